using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Benchmarks;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl bench elastic</c> (issue 14). <see cref="Offline"/>: on skewed shared traces, a fixed-R plan against the
/// same plan after expert-replica autoscaling converged, scored by the simulator on held-out sequences (the JSON keys
/// imbalanceFixedR, imbalanceAutoscaled, remoteFixedR, remoteAutoscaled). <see cref="Live"/> (the default): a load step
/// against silo processes with the local autoscaler on, and the offline comparison on one trace.
/// </summary>
public static partial class BenchElasticCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench elastic",
            "A load step against silo processes with autoscaling on (SLO attainment, decision and serve times, failures), plus expert-replica autoscaling against fixed R on a trace; --offline: that comparison alone, on every trace.",
            "[<dir>...]",
            [
                new("offline", "only the simulated comparison, on every shared (or given) trace", IsFlag: true),
                .. Live.Options,
                new("pods", "<G> pods (default 16)"),
                new("redundant", "<R> the fixed arm's extra replicas per layer, and the autoscaler's start (default 8)"),
                new("max-imbalance", "<m> the autoscaler's maxLoadImbalance (default 1.01)"),
                new("max-redundant", "<N> the autoscaler's maxRedundant per layer (default 32)"),
                new("moves", "<N> the move budget per autoscaler step (default 64)"),
                new("time-limit", "<S> ilp time limit (default 10)"),
                new("seed", "<N> seed (default 1)"),
                new("json", "print JSON", IsFlag: true),
            ],
            Run,
            MinArguments: 0,
            MaxArguments: 64));
    }

    private static Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct) =>
        args.Has("offline") ? Offline.RunAsync(args, console, ct) : Live.RunAsync(args, console, ct);

    /// <summary>The simulated comparison on traces.</summary>
    public static class Offline
    {
        /// <summary>The comparison on one trace with the options of <paramref name="args"/>.</summary>
        internal static Task<ElasticOfflineRow> Run(CliArgs args, CliConsole console, RoutingTrace trace, CancellationToken ct)
        {
            var (pods, redundant, options, limit, seed) = Settings(args);
            return CliProgress.RunAsync(
                console,
                $"{trace.Manifest.Name}: elastic re-planning on {pods} pods",
                progress => Task.Run(() => ElasticBench.Run(trace, pods, redundant, options, limit, seed, progress, ct), ct));
        }

        /// <summary>The traces given (or the shared ones; with <paramref name="all"/> false only the first), or a synthetic one when there are none.</summary>
        internal static async Task<List<RoutingTrace>> Traces(CliArgs args, CliConsole console, bool all)
        {
            var dirs = args.Positionals.Count > 0 ? args.Positionals : SharedTraces.All();
            if (dirs.Count == 0)
            {
                await console.Error.WriteLineAsync("no traces given and no ../shared/traces found: using a synthetic trace (moectl trace synth defaults)");
                return [SyntheticTraceGenerator.Generate(new SyntheticTraceOptions(), "synthetic-default")];
            }

            return [.. dirs.Take(all ? dirs.Count : 1).Select(TraceDirectory.Read)];
        }

        private static (int Pods, int Redundant, ExpertAutoscalingOptions Options, TimeSpan Limit, int Seed) Settings(CliArgs args)
        {
            var options = new ExpertAutoscalingOptions
            {
                MaxLoadImbalance = args.GetDouble("max-imbalance", 1.01, 1, 100),
                MinRedundant = 0,
                MaxRedundant = args.GetInt("max-redundant", 32, 0, 1 << 16),
                MaxMoves = args.GetInt("moves", 64, 1, 1 << 16),
                Cooldown = TimeSpan.FromSeconds(120),
            };
            return (args.GetInt("pods", 16, 2, 4096), args.GetInt("redundant", 8, 0, 1 << 16), options, TimeSpan.FromSeconds(args.GetDouble("time-limit", 10, 0.1, 3600)), args.GetInt("seed", 1));
        }

        /// <summary>Runs it and prints a table or JSON.</summary>
        public static async Task<int> RunAsync(CliArgs args, CliConsole console, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(args);
            ArgumentNullException.ThrowIfNull(console);
            var (pods, redundant, options, limit, seed) = Settings(args);
            var rows = new List<ElasticOfflineRow>();
            foreach (var trace in await Traces(args, console, all: true))
            {
                rows.Add(await Run(args, console, trace, ct));
            }

            if (args.Json)
            {
                await CliOutput.WriteJsonAsync(console.Out, new ElasticOfflineReport(
                    rows.Average(r => r.ImbalanceFixedR), rows.Average(r => r.ImbalanceAutoscaled), rows.Average(r => r.RemoteFixedR), rows.Average(r => r.RemoteAutoscaled), rows));
                return Moectl.Ok;
            }

            await console.Out.WriteLineAsync(CliOutput.Table(
                ["trace", "pods", "extra fixed", "extra autoscaled", "imbalance fixed", "imbalance autoscaled", "remote fixed", "remote autoscaled", "steps", "extra same budget", "imbalance same budget", "remote same budget"],
                rows.Select(r => (IReadOnlyList<string>)
                [
                    r.Trace, r.Pods.ToString(CultureInfo.InvariantCulture), r.RedundantFixedR.ToString(CultureInfo.InvariantCulture), r.RedundantAutoscaled.ToString(CultureInfo.InvariantCulture),
                    CliOutput.Num(r.ImbalanceFixedR), CliOutput.Num(r.ImbalanceAutoscaled), CliOutput.Num(r.RemoteFixedR, 4), CliOutput.Num(r.RemoteAutoscaled, 4), r.Steps.ToString(CultureInfo.InvariantCulture),
                    r.RedundantSameBudget.ToString(CultureInfo.InvariantCulture), CliOutput.Num(r.ImbalanceSameBudget), CliOutput.Num(r.RemoteSameBudget, 4),
                ])));
            await console.Out.WriteLineAsync();
            await console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"ilp with R={redundant} per layer, fitted on even sequences; autoscaled from it (maxLoadImbalance {options.MaxLoadImbalance}, maxRedundant {options.MaxRedundant}, {options.MaxMoves} moves per step) on the odd sequences' load (the live profile of the traffic it serves) until it keeps the plan; same budget: ilp with the autoscaled arm's extra replicas per layer (rounded up) on even sequences; all scored on odd sequences (speculative homes): imbalance of dispatches served, max / mean (DESIGN.md §2)."));
            return Moectl.Ok;
        }
    }
}

/// <summary>The JSON of <c>moectl bench elastic --offline --json</c>: the means over traces, and each trace.</summary>
/// <param name="ImbalanceFixedR">Mean over traces of the fixed-R plan's imbalance.</param>
/// <param name="ImbalanceAutoscaled">The same for the autoscaled plan.</param>
/// <param name="RemoteFixedR">Mean remote fraction of the fixed-R plan.</param>
/// <param name="RemoteAutoscaled">The same for the autoscaled plan.</param>
/// <param name="Traces">Each trace, with the arms' extra replicas and a label saying how they differ.</param>
public sealed record ElasticOfflineReport(double ImbalanceFixedR, double ImbalanceAutoscaled, double RemoteFixedR, double RemoteAutoscaled, IReadOnlyList<ElasticOfflineRow> Traces);
