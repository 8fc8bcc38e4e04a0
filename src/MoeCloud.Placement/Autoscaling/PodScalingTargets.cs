namespace MoeCloud.Placement.Autoscaling;

/// <summary>
/// What the pod autoscaler (<see cref="PodAutoscaler"/>) aims at: placed pods within <see cref="MinPods"/>..<see cref="MaxPods"/>,
/// step latency p99 under <see cref="TargetP99Ms"/> and/or requests in flight per placed pod under
/// <see cref="TargetQueueDepth"/> (at least one of the two is set).
/// </summary>
/// <param name="MinPods">Fewest placed pods, at least 1.</param>
/// <param name="MaxPods">Most placed pods, at least <paramref name="MinPods"/>.</param>
/// <param name="TargetP99Ms">Step latency p99 to stay under (milliseconds, positive); null: not a target.</param>
/// <param name="TargetQueueDepth">Requests in flight per placed pod to stay under (positive); null: not a target.</param>
/// <param name="ScaleUpWindow">A scale-out goes only as far as the lowest recommendation in this window (0: the latest alone).</param>
/// <param name="ScaleDownWindow">A scale-in goes only as far as the highest recommendation in this window.</param>
/// <param name="Tolerance">Relative distance from a target (0..1, default 0.1) within which the pod count is held.</param>
public sealed record PodScalingTargets(
    int MinPods,
    int MaxPods,
    double? TargetP99Ms,
    double? TargetQueueDepth,
    TimeSpan ScaleUpWindow,
    TimeSpan ScaleDownWindow,
    double Tolerance = 0.1)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming every bad field at once.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (MinPods < 1 || MaxPods < MinPods)
        {
            problems.Add($"pods must satisfy 1 <= min <= max (min {MinPods}, max {MaxPods})");
        }

        if (TargetP99Ms is null && TargetQueueDepth is null)
        {
            problems.Add("at least one of targetP99Ms and targetQueueDepth must be set");
        }

        if (TargetP99Ms is { } p99 && !(double.IsFinite(p99) && p99 > 0))
        {
            problems.Add($"targetP99Ms must be a positive number (was {p99})");
        }

        if (TargetQueueDepth is { } depth && !(double.IsFinite(depth) && depth > 0))
        {
            problems.Add($"targetQueueDepth must be a positive number (was {depth})");
        }

        if (ScaleUpWindow < TimeSpan.Zero || ScaleDownWindow < TimeSpan.Zero)
        {
            problems.Add("stabilisation windows must not be negative");
        }

        if (!(Tolerance is >= 0 and < 1))
        {
            problems.Add($"tolerance must lie in [0, 1) (was {Tolerance})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
    }
}

/// <summary>
/// One reading of the serving signals of a model, summed over its gateways.
/// </summary>
/// <param name="At">When it was read.</param>
/// <param name="Requests">Forward requests finished in the gateways' window (0 with no queue: idle).</param>
/// <param name="StepP99Ms">Largest step latency p99 over the gateways (milliseconds); null when no request finished.</param>
/// <param name="QueueDepth">Requests accepted and not yet answered, over all gateways (not per pod).</param>
/// <param name="PlacedPods">Pods the plan in effect placed experts on when it was read (0: unknown, the current count is used).</param>
public readonly record struct ServingSample(DateTimeOffset At, long Requests, double? StepP99Ms, double QueueDepth, int PlacedPods);

/// <summary>
/// The pod autoscaler's answer.
/// </summary>
/// <param name="DesiredPods">Placed pods to run (equal to the current count: hold).</param>
/// <param name="Reason">Why, in a sentence (for an Event and the status).</param>
/// <param name="Recommendation">What the latest sample alone asks for, before stabilisation (null: no signal).</param>
/// <param name="ObservedP99Ms">The latest sample's step latency p99.</param>
/// <param name="ObservedQueueDepth">The latest sample's requests in flight per placed pod.</param>
public sealed record PodScaleDecision(int DesiredPods, string Reason, int? Recommendation, double? ObservedP99Ms, double? ObservedQueueDepth);
