using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Cli.Commands;

/// <summary>Reading traces, profiles and metrics for the placement commands.</summary>
internal static class PlacementInputs
{
    public static readonly string[] SequenceChoices = ["all", "even", "odd"];

    /// <summary>The sequences of <paramref name="trace"/> that <paramref name="which"/> (all, even, odd) selects.</summary>
    public static RoutingTrace Select(RoutingTrace trace, string which, string path)
    {
        if (which == "all")
        {
            return trace;
        }

        if (trace.Sequences.Count < 2)
        {
            throw new InvalidDataException($"{path}: has {trace.Sequences.Count} sequence(s); --sequences {which} needs at least 2");
        }

        var (even, odd) = trace.SplitEvenOdd();
        return which == "even" ? even : odd;
    }

    /// <summary>
    /// A profile from a trace directory (its <paramref name="sequences"/>) or from an SGLang count dump (a .json file:
    /// load-only, <paramref name="topK"/> slots per token).
    /// </summary>
    public static (WorkloadProfile Profile, RoutingTrace? Trace) LoadProfile(string path, string sequences, int topK)
    {
        if (File.Exists(path))
        {
            var load = ExpertLoad.LoadSglangDump(path);
            return (WorkloadProfile.FromLoad(Path.GetFileName(path), load, topK), null);
        }

        var trace = Select(TraceDirectory.Read(path), sequences, path);
        return (WorkloadProfile.FromTrace(trace), trace);
    }

    /// <summary>Pod capacities from <c>--capacity</c>: one number for every pod, or one per pod, comma-separated.</summary>
    public static IReadOnlyList<int>? Capacities(CliArgs args, int pods)
    {
        var text = args.Get("capacity");
        if (text is null)
        {
            return null;
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                throw new UsageException($"option '--capacity' needs whole numbers of replicas (one, or one per pod), got '{text}'");
            }
        }

        if (values.Length == 1)
        {
            return Enumerable.Repeat(values[0], pods).ToArray();
        }

        return values.Length == pods ? values : throw new UsageException($"option '--capacity' has {values.Length} values for {pods} pods (give one, or one per pod)");
    }

    /// <summary>The rows of the metrics table for one simulation.</summary>
    public static IReadOnlyList<string> MetricCells(SimulationMetrics m) =>
    [
        CliOutput.Num(m.RemoteFraction, 4), CliOutput.Num(m.ExpertLoadImbalance, 3), CliOutput.Num(m.HomeLoadImbalance, 3),
        CliOutput.Num(m.PredictionHitRate, 3), m.ExpertPrecision is { } precision ? CliOutput.Num(precision, 3) : "-", m.ReplicasPerPodMax.ToString(CultureInfo.InvariantCulture), CliOutput.Count(m.Dispatches),
    ];

    /// <summary>Headers matching <see cref="MetricCells"/>.</summary>
    public static readonly string[] MetricHeaders = ["remote", "expert imb", "home imb", "hit rate", "expert prec", "replicas/pod max", "dispatches"];

    public static HomePolicy ParseHome(string text) => text switch
    {
        "random" => HomePolicy.Random,
        "first-layer" => HomePolicy.FirstLayer,
        "sequence" => HomePolicy.Sequence,
        "speculative" => HomePolicy.Speculative,
        "oracle" => HomePolicy.Oracle,
        _ => throw new UsageException($"option '--home' must be one of random, first-layer, sequence, speculative, oracle; got '{text}'"),
    };

    public static string HomeName(HomePolicy home) => home switch
    {
        HomePolicy.FirstLayer => "first-layer",
        _ => home.ToString().ToLowerInvariant(),
    };
}
