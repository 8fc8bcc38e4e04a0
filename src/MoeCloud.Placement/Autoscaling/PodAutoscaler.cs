using System.Globalization;

namespace MoeCloud.Placement.Autoscaling;

/// <summary>
/// How many pods to place, from the serving signals (the HorizontalPodAutoscaler's algorithm on step latency and queue
/// depth instead of CPU). Pure: the caller keeps the history of samples and owns the clock.
/// </summary>
/// <remarks>
/// Per sample, each set target gives a ratio observed / target (p99 step latency; requests in flight per placed pod)
/// and the sample recommends <c>ceil(pods × max ratio)</c>, clamped to min..max; within the tolerance of 1 it
/// recommends the pods it was read on. An idle sample (no request finished, none in flight) recommends
/// <see cref="PodScalingTargets.MinPods"/>. Then, as the HPA's behaviour does: a scale-out goes to the lowest
/// recommendation of the scale-up window, a scale-in to the highest of the scale-down window, so each direction acts
/// only when the whole window agreed. The part of a window that the history does not reach back to counts as a
/// recommendation to hold, so that a fresh history (an operator restart) never scales in before a full down-window.
/// </remarks>
public static class PodAutoscaler
{
    /// <summary>
    /// The placed pods to run now.
    /// </summary>
    /// <param name="targets">Bounds, targets and windows (validated: <see cref="ArgumentException"/> when bad).</param>
    /// <param name="currentPods">Pods placed now (spec.replicas), at least 1.</param>
    /// <param name="history">Samples in any order; those after <paramref name="now"/> are ignored.</param>
    /// <param name="now">The decision time.</param>
    public static PodScaleDecision Decide(PodScalingTargets targets, int currentPods, IEnumerable<ServingSample> history, DateTimeOffset now)
    {
        // 1. Check the inputs.
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(history);
        targets.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(currentPods, 1);

        // 2. Outside min..max: back inside at once (as the HPA does), whatever the signals say.
        var samples = history.Where(s => s.At <= now).OrderBy(s => s.At).ToList();
        var latest = samples.Count > 0 ? samples[^1] : (ServingSample?)null;
        var observedP99 = latest?.StepP99Ms;
        double? observedDepth = latest is { } l ? l.QueueDepth / Pods(l, currentPods) : null;
        if (currentPods < targets.MinPods || currentPods > targets.MaxPods)
        {
            var bound = Math.Clamp(currentPods, targets.MinPods, targets.MaxPods);
            return new PodScaleDecision(bound, $"{currentPods} pods lie outside {targets.MinPods}..{targets.MaxPods}: {currentPods} -> {bound}", null, observedP99, observedDepth);
        }

        // 3. No sample: nothing to decide on.
        if (latest is not { } newest)
        {
            return new PodScaleDecision(currentPods, "no serving signals yet: holding", null, null, null);
        }

        // 4. What the latest sample asks for, and the limits each window sets.
        var recommendation = Recommend(targets, newest, currentPods);
        var up = Window(targets, samples, currentPods, now, targets.ScaleUpWindow).Append(recommendation).Min();
        var down = Window(targets, samples, currentPods, now, targets.ScaleDownWindow).Append(recommendation).Max();
        var why = Explain(targets, newest, currentPods);
        if (up > currentPods)
        {
            return new PodScaleDecision(up, $"{why}: {currentPods} -> {up} pods", recommendation, observedP99, observedDepth);
        }

        if (down < currentPods)
        {
            return new PodScaleDecision(down, $"{why} for {Seconds(targets.ScaleDownWindow)}: {currentPods} -> {down} pods", recommendation, observedP99, observedDepth);
        }

        var hold = recommendation == currentPods
            ? $"{why}: holding {currentPods} pods"
            : $"{why}: holding {currentPods} pods until the {(recommendation > currentPods ? "scale-up" : "scale-down")} window agrees";
        return new PodScaleDecision(currentPods, hold, recommendation, observedP99, observedDepth);
    }

    /// <summary>
    /// The samples a later <see cref="Decide"/> still needs: those inside the longer window, and the newest one before
    /// it (which shows the history reaches back over the whole window).
    /// </summary>
    public static List<ServingSample> Prune(PodScalingTargets targets, IEnumerable<ServingSample> history, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(history);
        var start = now - (targets.ScaleUpWindow > targets.ScaleDownWindow ? targets.ScaleUpWindow : targets.ScaleDownWindow);
        var ordered = history.OrderBy(s => s.At).ToList();
        var firstInside = ordered.FindIndex(s => s.At >= start);
        var keepFrom = firstInside < 0 ? Math.Max(0, ordered.Count - 1) : Math.Max(0, firstInside - 1);
        return ordered.GetRange(keepFrom, ordered.Count - keepFrom);
    }

    /// <summary>
    /// Whether the sample asks for no more pods before clamping to the maximum: idle, no figure for any set target, or
    /// every set target's observed / target ratio at most 1 + <see cref="PodScalingTargets.Tolerance"/> (so at
    /// <see cref="PodScalingTargets.MaxPods"/> an overloaded sample is not within them although it recommends holding).
    /// </summary>
    /// <param name="targets">Targets (validated: <see cref="ArgumentException"/> when bad).</param>
    /// <param name="sample">The sample.</param>
    /// <param name="currentPods">Pods placed now, for a sample that does not say (at least 1).</param>
    public static bool WithinTargets(PodScalingTargets targets, ServingSample sample, int currentPods)
    {
        ArgumentNullException.ThrowIfNull(targets);
        targets.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(currentPods, 1);
        return IsIdle(sample) || Ratio(targets, sample, Pods(sample, currentPods)) is not { } ratio || ratio <= 1 + targets.Tolerance;
    }

    /// <summary>The recommendations of the samples inside a window, plus a hold when the history does not reach back over it.</summary>
    private static IEnumerable<int> Window(PodScalingTargets targets, List<ServingSample> samples, int currentPods, DateTimeOffset now, TimeSpan window)
    {
        var start = now - window;
        var inside = samples.Where(s => s.At >= start).Select(s => Recommend(targets, s, currentPods));
        return samples[0].At <= start ? inside : inside.Append(currentPods);
    }

    /// <summary>What one sample asks for: ceil(pods × the largest ratio observed / target), clamped to min..max.</summary>
    private static int Recommend(PodScalingTargets targets, ServingSample sample, int currentPods)
    {
        var pods = Pods(sample, currentPods);
        if (IsIdle(sample))
        {
            return targets.MinPods;
        }

        if (Ratio(targets, sample, pods) is not { } ratio)
        {
            return Math.Clamp(pods, targets.MinPods, targets.MaxPods);
        }

        var wanted = Math.Abs(ratio - 1) <= targets.Tolerance ? pods : (int)Math.Min(int.MaxValue, Math.Ceiling(pods * ratio));
        return Math.Clamp(wanted, targets.MinPods, targets.MaxPods);
    }

    /// <summary>The largest observed / target ratio over the set targets the sample has a figure for; null when none.</summary>
    private static double? Ratio(PodScalingTargets targets, ServingSample sample, int pods)
    {
        double? ratio = null;
        if (targets.TargetP99Ms is { } p99Target && sample.Requests > 0 && sample.StepP99Ms is { } p99 && double.IsFinite(p99))
        {
            ratio = p99 / p99Target;
        }

        if (targets.TargetQueueDepth is { } depthTarget && double.IsFinite(sample.QueueDepth))
        {
            var depth = Math.Max(0, sample.QueueDepth) / pods / depthTarget;
            ratio = ratio is { } r ? Math.Max(r, depth) : depth;
        }

        return ratio;
    }

    private static string Explain(PodScalingTargets targets, ServingSample sample, int currentPods)
    {
        if (IsIdle(sample))
        {
            return "idle (no requests)";
        }

        var pods = Pods(sample, currentPods);
        var parts = new List<string>();
        if (targets.TargetP99Ms is { } p99Target)
        {
            parts.Add(sample.Requests > 0 && sample.StepP99Ms is { } p99
                ? string.Create(CultureInfo.InvariantCulture, $"p99 step latency {p99:0.#} ms (target {p99Target:0.#})")
                : "no finished requests for p99");
        }

        if (targets.TargetQueueDepth is { } depthTarget)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"queue depth {sample.QueueDepth / pods:0.##} per pod (target {depthTarget:0.##})"));
        }

        return string.Join(", ", parts) + string.Create(CultureInfo.InvariantCulture, $" on {pods} pods");
    }

    private static bool IsIdle(ServingSample sample) => sample.Requests <= 0 && sample.QueueDepth <= 0;

    private static int Pods(ServingSample sample, int currentPods) => sample.PlacedPods > 0 ? sample.PlacedPods : currentPods;

    private static string Seconds(TimeSpan window) => string.Create(CultureInfo.InvariantCulture, $"{window.TotalSeconds:0.#} s");
}
