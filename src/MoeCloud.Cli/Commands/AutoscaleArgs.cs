using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Cli.Commands;

/// <summary>The autoscaling options of <c>moectl up --autoscale</c> and <c>moectl bench elastic</c>, parsed into <see cref="LocalAutoscalerOptions"/>.</summary>
public static class AutoscaleArgs
{
    /// <summary>The options, for the command's option list.</summary>
    public static IReadOnlyList<CliOption> Options { get; } =
    [
        new("target-p99-ms", "<ms> autoscale: keep the gateway's p99 step latency under this (default 100 when no --target-queue-depth)"),
        new("target-queue-depth", "<N> autoscale: keep requests in flight per placed pod under this"),
        new("min-pods", "<N> autoscale: fewest plan pods (default 1)"),
        new("max-pods", "<N> autoscale: most plan pods (default 2 × the starting pods)"),
        new("standby", "<N> autoscale: silos kept joined but unplaced, so a scale-out is a plan switch (default 0)"),
        new("scale-up-window", "<s> autoscale: a scale-out goes to the lowest recommendation of this window (default 0)"),
        new("scale-down-window", "<s> autoscale: a scale-in goes to the highest recommendation of this window (default 30)"),
        new("refill-delay", "<s> autoscale: after a scale-out, the standbys it used are refilled (one silo per serving window) only this long after it and once the signals are within the targets (default 30)"),
        new("autoscale-experts", "autoscale expert replicas too, on the live load (maxLoadImbalance 1.05, cooldown 30 s)", IsFlag: true),
    ];

    /// <summary>The names of <see cref="Options"/>.</summary>
    public static IEnumerable<string> Names => Options.Select(o => o.Name);

    /// <summary>
    /// The controller's options from <paramref name="args"/>, for a cluster starting on <paramref name="startPods"/> plan
    /// pods; the gateway's serving window is <paramref name="settle"/>. The defaults of --min-pods, --standby,
    /// --target-p99-ms, --target-queue-depth and --scale-up-window are the last parameters (the p99 default applies when
    /// no queue-depth target is set, or <paramref name="bothTargets"/>). Out-of-range values are a <see cref="UsageException"/>.
    /// </summary>
    public static LocalAutoscalerOptions Parse(CliArgs args, int startPods, TimeSpan settle, int defaultMinPods = 1, int defaultStandby = 0, double defaultP99Ms = 100,
        double? defaultQueueDepth = null, double defaultUpWindowSeconds = 0, bool bothTargets = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        double? p99 = args.Get("target-p99-ms") is null ? null : args.GetDouble("target-p99-ms", defaultP99Ms, 0.001, 1e7);
        double? depth = args.Get("target-queue-depth") is null ? defaultQueueDepth : args.GetDouble("target-queue-depth", 1, 0.001, 1e7);
        var min = args.GetInt("min-pods", defaultMinPods, 1, 64);
        var max = args.GetInt("max-pods", Math.Min(64, Math.Max(min, 2 * startPods)), 1, 64);
        var targets = new PodScalingTargets(
            min,
            max,
            p99 ?? (depth is null || bothTargets ? defaultP99Ms : null),
            depth,
            TimeSpan.FromSeconds(args.GetDouble("scale-up-window", defaultUpWindowSeconds, 0, 3600)),
            TimeSpan.FromSeconds(args.GetDouble("scale-down-window", 30, 0, 3600)));
        var options = new LocalAutoscalerOptions
        {
            Pods = targets,
            Standby = args.GetInt("standby", defaultStandby, 0, 16),
            Settle = settle,
            RefillDelay = TimeSpan.FromSeconds(args.GetDouble("refill-delay", 30, 0, 3600)),
            Experts = args.Has("autoscale-experts") ? new ExpertAutoscalingOptions { MaxLoadImbalance = 1.05, MaxRedundant = 8, MaxMoves = 8, Cooldown = TimeSpan.FromSeconds(30) } : null,
        };
        try
        {
            return options.Validated();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
