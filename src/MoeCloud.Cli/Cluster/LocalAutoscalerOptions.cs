using System.Globalization;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Cluster;

/// <summary>What a <see cref="LocalAutoscaler"/> reads: the gateway's serving signals and the cluster's live expert load.</summary>
public interface IAutoscaleSignals
{
    /// <summary>The serving signals of the model now, as a sample read at <paramref name="now"/>; null when there are none.</summary>
    ServingSample? ReadServing(DateTimeOffset now);

    /// <summary>The windowed load per (layer, expert) from cluster telemetry; null when there is none yet.</summary>
    Task<WorkloadProfile?> ReadLoadAsync(CancellationToken cancellationToken);
}

/// <summary>What a <see cref="LocalAutoscaler"/> changes: <see cref="LocalScaler"/> on a local cluster.</summary>
public interface IPodScaler
{
    /// <summary>Pods the plan in effect has.</summary>
    Task<int> PlanPodsAsync(CancellationToken cancellationToken);

    /// <summary>Scales out to <paramref name="targetPods"/> plan pods.</summary>
    Task<ScaleTimings> ScaleOutAsync(int targetPods, CancellationToken cancellationToken);

    /// <summary>Scales in to <paramref name="targetPods"/> plan pods, keeping <paramref name="standby"/> silos joined above them.</summary>
    Task<ScaleTimings> ScaleInAsync(int targetPods, CancellationToken cancellationToken, int standby = 0);

    /// <summary>
    /// Keeps <paramref name="standby"/> silos joined above the plan's pods, starting at most <paramref name="maxStarts"/>
    /// of the missing ones; returns how many were started (or stopped, negative).
    /// </summary>
    Task<int> SetStandbyAsync(int standby, CancellationToken cancellationToken, int maxStarts = int.MaxValue);

    /// <summary>One expert-replica autoscaler step on the plan in effect, rolled out (make-before-break) when it changes the plan.</summary>
    Task<ExpertAutoscaleDecision> RebalanceExpertsAsync(WorkloadProfile load, ExpertAutoscalingOptions options, DateTimeOffset? lastChange, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>Settings of <see cref="LocalAutoscaler"/>.</summary>
public sealed record LocalAutoscalerOptions
{
    /// <summary>Pod bounds, targets and stabilisation windows (required; validated by <see cref="PodScalingTargets.Validate"/>).</summary>
    public required PodScalingTargets Pods { get; init; }

    /// <summary>Silos kept joined above the plan's pods, so a scale-out is a plan switch (default 0, at most 16).</summary>
    public int Standby { get; init; }

    /// <summary>How often the signals are read and a decision is made (default 1 s, in [10 ms, 1 min]).</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After a pod change, and after the controller is created, how long samples are not taken (the gateway's serving
    /// window: its percentiles still hold requests served before, such as a start's first slow ones). Default 10 s, in [0, 10 min].
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// After a scale-out that used standbys, how long their refill waits (default 30 s, as the scale-down window, in
    /// [0, 1 h]): no silo is started until this long after the last scale-out, and only while the signals are within the
    /// targets (<see cref="PodAutoscaler.WithinTargets"/>); then one silo per <see cref="Settle"/> at most. A scale-out
    /// beyond the joined standbys starts silos itself.
    /// </summary>
    public TimeSpan RefillDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Expert-replica autoscaling; null (default): off.</summary>
    public ExpertAutoscalingOptions? Experts { get; init; }

    /// <summary>How often the live load is read for expert-replica autoscaling (default 5 s, in [10 ms, 1 h]); its own cooldown still applies.</summary>
    public TimeSpan ExpertCheck { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>These options, or an <see cref="ArgumentException"/> naming every value out of range.</summary>
    internal LocalAutoscalerOptions Validated()
    {
        var problems = new List<string>();
        try
        {
            Pods.Validate();
        }
        catch (ArgumentException e)
        {
            problems.Add(e.Message);
        }

        if (Experts is { } experts)
        {
            try
            {
                experts.Validate();
            }
            catch (ArgumentException e)
            {
                problems.Add(e.Message);
            }
        }

        if (Standby is < 0 or > 16)
        {
            problems.Add($"{nameof(Standby)} must be in [0, 16] (got {Standby})");
        }

        if (Period < TimeSpan.FromMilliseconds(10) || Period > TimeSpan.FromMinutes(1))
        {
            problems.Add($"{nameof(Period)} must be in [10 ms, 1 min] (got {Period})");
        }

        if (Settle < TimeSpan.Zero || Settle > TimeSpan.FromMinutes(10))
        {
            problems.Add($"{nameof(Settle)} must be in [0, 10 min] (got {Settle})");
        }

        if (RefillDelay < TimeSpan.Zero || RefillDelay > TimeSpan.FromHours(1))
        {
            problems.Add($"{nameof(RefillDelay)} must be in [0, 1 h] (got {RefillDelay})");
        }

        if (ExpertCheck < TimeSpan.FromMilliseconds(10) || ExpertCheck > TimeSpan.FromHours(1))
        {
            problems.Add($"{nameof(ExpertCheck)} must be in [10 ms, 1 h] (got {ExpertCheck})");
        }

        return problems.Count == 0 ? this : throw new ArgumentException("invalid autoscaler options: " + string.Join("; ", problems));
    }
}

/// <summary>What one change (or failed attempt) of a <see cref="LocalAutoscaler"/> was.</summary>
/// <param name="At">When it was decided.</param>
/// <param name="Kind"><c>pods</c> (a scale step), <c>standby</c> (standbys started or stopped), <c>experts</c> (an
/// expert-replica step) or <c>error</c> (a pass that could not read its inputs; pods 0).</param>
/// <param name="FromPods">Plan pods before.</param>
/// <param name="ToPods">Plan pods after (the same for standby and expert steps).</param>
/// <param name="Reason">Why, in a sentence (the autoscaler's reason).</param>
/// <param name="Timings">The scale step's timings from the decision; null for other kinds and failures.</param>
/// <param name="Error">Why the step failed; null when it did not.</param>
public sealed record AutoscaleChange(DateTimeOffset At, string Kind, int FromPods, int ToPods, string Reason, ScaleTimings? Timings, string? Error)
{
    /// <summary>One line for a console: time, change, reason and timings.</summary>
    public override string ToString()
    {
        var time = At.UtcDateTime.ToString("HH:mm:ss.f", CultureInfo.InvariantCulture);
        var what = Kind == "pods" ? $"pods {FromPods} -> {ToPods}" : Kind;
        var timings = Timings is not { } t ? "" : string.Create(CultureInfo.InvariantCulture,
            $" [started {t.StartedSilos}, stopped {t.StoppedSilos}, moves {t.Moves}, plan {t.PlanVersion}{Part("joined", t.JoinedSeconds)}{Part("in effect", t.PlanSeconds)}{Part("served", t.ServedSeconds)}{Part("stopped", t.StoppedSeconds)}]");
        return $"{time} autoscale {what}: {Reason}{timings}{(Error is null ? "" : $" FAILED: {Error}")}";

        static string Part(string name, double? seconds) => seconds is { } s ? string.Create(CultureInfo.InvariantCulture, $", {name} {s:0.00} s") : "";
    }
}
