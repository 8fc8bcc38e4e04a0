using System.Globalization;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Load;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Placement.Benchmarks;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Commands;

public static partial class BenchElasticCommand
{
    /// <summary>
    /// The live part: silo processes (each with a CPU quota where the machine allows), a gateway, the local autoscaler
    /// and an open-loop step load (base, peak, base), run twice with the same requests: first on the starting pods with the
    /// autoscaler off (the baseline), then with it on; then, when the step's scale-out used a standby, one explicit cold
    /// scale-out under the base load; and the offline comparison on one trace.
    /// </summary>
    public static class Live
    {
        private const string Model = "elastic";

        /// <summary>Most 5 s runs of the base load between the arms (see <see cref="Recover"/>).</summary>
        private const int MaxRecoveryRuns = 6;

        /// <summary>The options of the live part.</summary>
        internal static IReadOnlyList<CliOption> Options { get; } =
        [
            new("preset", "<name> demo model preset: tiny, small (default tiny)"),
            new("start-pods", "<N> plan pods at the start (default 2)"),
            new("cpus", "<float> CPU quota per silo process (default 0.5; the output says whether the machine allows it)"),
            new("rate", "<req/s> the base load (default 10)"),
            new("peak", "<req/s> the step's load (default 40)"),
            new("duration", "<s> the whole step load: a third at the base, a third at the peak, a third at the base (default 60)"),
            new("slo-ms", "<ms> the latency target of SLO attainment, and the p99 target unless --target-p99-ms (default 200)"),
            new("tokens", "<N> tokens per request (default 64)"),
            new("window", "<s> window of SLO attainment (default 5)"),
            new("serving-window", "<s> the gateway's serving window, and the autoscaler's settle time after a change (default 5)"),
            new("warmup", "<seconds> longest untimed warm-up before the arms: requests of --tokens tokens one after another until the data path is steady (the benchmarks' rule: 2 s windows whose median stopped improving by 3%, the JIT of this process and of the silo processes quiet) (default 90; 0: none). The standbys are not warmed: they serve nothing until a scale-out uses them"),
            new("standby-warmup", "<seconds> longest warm-up of each standby the scaler starts (requests through its runner until it is steady, in the background; the bench waits for the first standbys' before the arms) (default 30; 0: cold standbys)"),
            new("homes", $"<token|request|auto> {HomesArg.Help} (default token)"),
            new("no-cold", "skip the explicit cold scale-out after the step", IsFlag: true),
            new("no-baseline", "skip the baseline arm: the same step load on the starting pods with the autoscaler off, run before the autoscaled one", IsFlag: true),
            .. AutoscaleArgs.Options,
        ];

        /// <summary>Runs it and prints a summary or JSON.</summary>
        public static async Task<int> RunAsync(CliArgs args, CliConsole console, CancellationToken ct)
        {
            ArgumentNullException.ThrowIfNull(args);
            ArgumentNullException.ThrowIfNull(console);

            // 1. Every option, checked before anything starts.
            var preset = args.GetChoice("preset", "tiny", "tiny", "small");
            var startPods = args.GetInt("start-pods", 2, 1, 16);
            var cpus = args.GetDouble("cpus", 0.5, 0.01, 1024);
            var rate = args.GetDouble("rate", 10, 0.1, LoadPattern.MaxRate);
            var peak = args.GetDouble("peak", 40, rate, LoadPattern.MaxRate);
            var duration = args.GetDouble("duration", 60, 3, 3600);
            var sloMs = args.GetDouble("slo-ms", 200, 0.001, 1e7);
            var servingWindow = TimeSpan.FromSeconds(args.GetInt("serving-window", 5, 1, 600));
            var homes = HomesArg.Parse(args);
            var load = new LoadOptions { Model = Model, Tokens = args.GetInt("tokens", 64, 1, 65536), SloMs = sloMs, WindowSeconds = args.GetDouble("window", 5, 0.1, 3600) };
            var pattern = LoadPattern.Create("step", rate, peak, duration / 3, duration);
            // The autoscaler: the p99 target (the SLO) and a queue-depth target, which reacts within a second of requests piling
            // up while the gateway's p99 window still holds the requests served before the step; a 2 s scale-up window so
            // one burst does not scale out; standbys up to the most pods, so that each scale-out is a plan switch.
            // Defaults here: --target-queue-depth 1, --scale-up-window 2, --standby the starting pods (the default
            // --max-pods is twice them), and --target-p99-ms the SLO alongside the queue-depth target.
            var autoscale = AutoscaleArgs.Parse(args, startPods, servingWindow, defaultMinPods: startPods, defaultStandby: startPods, defaultP99Ms: sloMs,
                defaultQueueDepth: 1, defaultUpWindowSeconds: 2, bothTargets: true);
            var seed = args.GetInt("seed", 1);
            var warmup = BenchTiming.Warmup(args);
            var standbyWarmup = TimeSpan.FromSeconds(args.GetDouble("standby-warmup", 30, 0, 600));
            var error = TextWriter.Synchronized(console.Error);

            // 2. The offline comparison on one trace (before the cluster, so it does not compete with it).
            var trace = (await Offline.Traces(args, console, all: false))[0];
            await error.WriteLineAsync($"offline: fixed R against expert-replica autoscaling on trace '{trace.Manifest.Name}'");
            var offline = await Offline.Run(args, console, trace, ct);

            // 3. The model, its plan on the starting pods, the silos, the gateway, the standbys.
            var modelDir = await DemoDeployment.EnsureModel(preset, seed, error, ct);
            var recorded = await DemoDeployment.Record(modelDir, tokens: 2048, sequences: 32, seed, ct);
            var plan = await DemoDeployment.Solve(recorded, startPods, redundant: startPods, "eplb", 5, error, ct);
            var profile = WorkloadProfile.FromTrace(recorded);
            await error.WriteLineAsync($"starting {startPods} silo processes ({preset} model)");
            await using var cluster = await ProcessCluster.Start(startPods, new Dictionary<string, string> { [Model] = modelDir }, TextWriter.Null, ct, cpus: cpus);
            var quota = cluster.CpuQuota ?? "no CPU quota";
            await error.WriteLineAsync(quota);
            await cluster.Publish(WirePlan.From(Model, plan, version: 1));
            await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, recorded, HomePolicyName.Speculative, ct, homes, servingWindow: servingWindow);
            var scaler = new LocalScaler(cluster, Model, profile, new LocalScalerOptions { ServeTimeout = TimeSpan.FromSeconds(20), StandbyWarmup = standbyWarmup });
            if (autoscale.Standby > 0)
            {
                await error.WriteLineAsync($"starting {autoscale.Standby} standby silo(s)");
                await scaler.SetStandbyAsync(autoscale.Standby, ct);
            }

            using var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey, MaxAttempts = 1 });
            // Fresh silo processes run their first requests on unoptimised code: warmed only 5 s, the baseline (the first
            // arm) ran on colder code than the autoscaled arm after it.
            await error.WriteLineAsync($"warm-up: {load.Tokens}-token requests one after another until the data path is steady, at most {warmup.TotalSeconds:0.#} s (not counted)");
            var info = await client.GetModelAsync(Model, ct);
            var inputs = Enumerable.Range(0, 8).Select(i => RuntimeCommands.RandomHidden(load.Tokens, info.Hidden, 2000 + i)).ToArray();
            var warmed = await SteadyWarmup.WarmUp(warmup, i => client.ForwardAsync(Model, inputs[i % inputs.Length], load.Tokens, info.Hidden, 0, info.MoeLayers - 1, cancellationToken: ct), SiloScrape.JitProbe(cluster, ct));
            await scaler.StandbyWarmups;
            await error.WriteLineAsync($"warm-up: {warmed.TotalSeconds:F1} s (standbys: at most {standbyWarmup.TotalSeconds:0.#} s each), then 5 s at the base load (not counted)");
            await LoadGenerator.RunAsync(client, LoadPattern.Create("constant", rate, null, null, 5), load, null, ct);

            // 4. The baseline: the same step load on the starting pods, the autoscaler off (the standbys idle, as in the
            // autoscaled arm until it uses them). Both arms offer the same requests on the same schedule.
            ElasticBaseline? baseline = null;
            if (!args.Has("no-baseline"))
            {
                var fixedReport = await CliProgress.RunAsync(
                    console with { Error = error },
                    $"baseline: {pattern} on {startPods} fixed pods, autoscaler off",
                    async reporter => await LoadGenerator.RunAsync(client, pattern, load, new LoadCommand.InlineProgress<LoadProgress>(p => reporter.Advance(p.ElapsedSeconds, p.DurationSeconds, $"  {CliOutput.Num(p.ElapsedSeconds, 0)}/{CliOutput.Num(p.DurationSeconds, 0)} s  served {p.Served}  failed {p.Failed}")), ct));
                var recovery = await Recover(client, rate, load, error, ct);
                baseline = new ElasticBaseline(startPods, fixedReport.Totals.WindowSloAttainment, fixedReport.Totals.All.SloAttainment, fixedReport.Totals.All.P99Ms, fixedReport.Totals.All.Failed, fixedReport.Totals.All.Dropped)
                {
                    RecoverySeconds = recovery,
                };
            }

            // 5. The step, with the autoscaler on.
            var signals = new GatewayAutoscaleSignals(gateway, cluster.Grains, Model);
            var before = autoscale.Experts is null ? null : await Snapshot(scaler, signals, ct);
            // While the load runs, the autoscaler's changes are printed through the bar (above it on a terminal).
            CliProgressReporter? bar = null;
            await using var autoscaler = new LocalAutoscaler(scaler, signals, autoscale, onChange: c =>
            {
                if (Volatile.Read(ref bar) is { } reporter)
                {
                    reporter.Report(c.ToString());
                }
                else
                {
                    error.WriteLine(c.ToString());
                }
            });
            var started = TimeProvider.System.GetUtcNow();
            var report = await CliProgress.RunAsync(
                console with { Error = error },
                $"load: {pattern} ({pattern.Requests} requests of {load.Tokens} tokens, SLO {CliOutput.Num(sloMs, 1)} ms)",
                async reporter =>
                {
                    Volatile.Write(ref bar, reporter);
                    autoscaler.Start();
                    var progress = new LoadCommand.InlineProgress<LoadProgress>(p => reporter.Advance(p.ElapsedSeconds, p.DurationSeconds,
                        $"  {CliOutput.Num(p.ElapsedSeconds, 0)}/{CliOutput.Num(p.DurationSeconds, 0)} s  sent {p.Sent}  served {p.Served}  failed {p.Failed}  in flight {p.InFlight}  p99 {(p.RecentP99Ms is { } ms ? CliOutput.Num(ms, 1) + " ms" : "-")}"));
                    var report = await LoadGenerator.RunAsync(client, pattern, load, progress, ct);
                    await autoscaler.StopAsync();
                    Volatile.Write(ref bar, null);
                    return report;
                });
            var changes = autoscaler.Changes;
            var stepAt = started + TimeSpan.FromSeconds(pattern.PeriodSeconds);
            var outs = changes.Where(c => c.Kind == "pods" && c.ToPods > c.FromPods && c.Error is null).ToList();
            var firstOut = outs.FirstOrDefault(c => c.At >= stepAt) ?? outs.FirstOrDefault();
            var after = before is null ? null : await Snapshot(scaler, signals, ct);

            // 6. Cold: the step's own cold scale-out, or one more under the base load with the standbys stopped first.
            var coldStep = outs.FirstOrDefault(c => c.Timings is { StartedSilos: > 0 });
            ScaleTimings? cold = coldStep?.Timings;
            var coldLabel = coldStep is null ? "not measured (--no-cold)" : "the step's scale-out started a silo";
            long coldFailed = 0;
            if (coldStep is null && !args.Has("no-cold"))
            {
                await scaler.SetStandbyAsync(0, ct);
                var pods = await scaler.PlanPodsAsync(ct);
                await error.WriteLineAsync($"cold: standbys stopped; scaling {pods} -> {pods + 1} pods under the base load");
                var background = LoadGenerator.RunAsync(client, LoadPattern.Create("constant", rate, null, null, 30), load, null, ct);
                cold = await scaler.ScaleOutAsync(pods + 1, ct);
                coldFailed = (await background).Totals.All.Failed;
                coldLabel = "an explicit cold scale-out after the step (standbys stopped first), under the base load";
            }

            var result = new ElasticLiveReport(
                report.Totals.WindowSloAttainment,
                firstOut is null ? null : (firstOut.At - stepAt).TotalSeconds,
                outs.FirstOrDefault(c => c.Timings is { StartedSilos: 0 })?.Timings?.ServedSeconds,
                cold?.ServedSeconds,
                coldLabel,
                report.Totals.All.Failed + coldFailed,
                report.Totals.All.Dropped,
                changes,
                offline.ImbalanceFixedR,
                offline.ImbalanceAutoscaled,
                offline.RemoteFixedR,
                offline.RemoteAutoscaled,
                offline.Trace,
                quota,
                LoadCommand.Json(report),
                before is null || after is null ? null : new ElasticExperts(before.Imbalance, after.Imbalance, Hottest(before, after)))
            {
                RequestSloAttainment = report.Totals.All.SloAttainment,
                P99Ms = report.Totals.All.P99Ms,
                Baseline = baseline,
                WarmupSeconds = warmed.TotalSeconds,
                StandbyWarmupLimitSeconds = standbyWarmup.TotalSeconds,
                Homes = HomesArg.Name(homes),
            };
            if (args.Json)
            {
                await CliOutput.WriteJsonAsync(console.Out, result);
            }
            else
            {
                await Summary(console.Out, result, report, cold);
            }

            return result.Failed > 0 ? Moectl.Failed : Moectl.Ok;
        }

        /// <summary>
        /// After the baseline: the base load (not counted) in 5 s runs until one is served within the SLO with nothing
        /// failed (at most <see cref="MaxRecoveryRuns"/>), so that an overloaded baseline's backlog (steps the silos still
        /// compute after their client gave up) does not count against the autoscaled arm. Returns the seconds it took.
        /// </summary>
        private static async Task<double> Recover(MoeCloudClient client, double rate, LoadOptions load, TextWriter error, CancellationToken ct)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var run = 1; run <= MaxRecoveryRuns; run++)
            {
                var totals = (await LoadGenerator.RunAsync(client, LoadPattern.Create("constant", rate, null, null, 5), load, null, ct)).Totals.All;
                if (totals.Failed == 0 && totals.P99Ms is { } p99 && p99 <= load.SloMs)
                {
                    break;
                }

                await error.WriteLineAsync($"recovery after the baseline: 5 s of the base load, p99 {(totals.P99Ms is { } ms ? CliOutput.Num(ms, 1) + " ms" : "-")}, failed {totals.Failed}: again");
            }

            return clock.Elapsed.TotalSeconds;
        }

        private static async Task<PlanSnapshot?> Snapshot(LocalScaler scaler, GatewayAutoscaleSignals signals, CancellationToken ct)
        {
            var plan = await scaler.Live();
            return await signals.ReadLoadAsync(ct) is { } load ? new PlanSnapshot(plan, load, ExpertLoadImbalance.Predicted(plan, load)) : null;
        }

        private static IReadOnlyList<ElasticHotExpert> Hottest(PlanSnapshot before, PlanSnapshot after) =>
        [
            .. Enumerable.Range(0, after.Load.Layers)
                .SelectMany(l => Enumerable.Range(0, after.Load.Experts).Select(e => (Layer: l, Expert: e, Load: after.Load.LoadOf(l, e))))
                .OrderByDescending(x => x.Load)
                .Take(5)
                .Select(x => new ElasticHotExpert(x.Layer, x.Expert, x.Load, before.Plan.PodsOf(x.Layer, x.Expert).Length, after.Plan.PodsOf(x.Layer, x.Expert).Length)),
        ];

        private static async Task Summary(TextWriter output, ElasticLiveReport r, LoadReport report, ScaleTimings? cold)
        {
            await output.WriteLineAsync(CliOutput.Table(
                ["window s", "requests", "served", "failed", "p99 ms", "p99 ≤ SLO"],
                report.Windows.Select(w => (IReadOnlyList<string>)[$"{CliOutput.Num(w.StartSeconds, 0)}-{CliOutput.Num(w.EndSeconds, 0)}", w.Requests.ToString(CultureInfo.InvariantCulture), w.Served.ToString(CultureInfo.InvariantCulture), w.Failed.ToString(CultureInfo.InvariantCulture), w.P99Ms is { } p ? CliOutput.Num(p, 1) : "-", w.WithinSlo switch { true => "yes", false => "no", null => "-" }])));
            await output.WriteLineAsync();
            foreach (var change in r.ScaleChanges)
            {
                await output.WriteLineAsync(change.ToString());
            }

            await output.WriteLineAsync();
            await output.WriteLineAsync($"CPU: {r.CpuQuota}; gateway homes: {r.Homes}");
            await output.WriteLineAsync($"SLO attainment (windows with p99 ≤ {CliOutput.Num(report.SloMs, 1)} ms): {Seconds(r.SloAttainment * 100, "%")} (requests within the SLO {Seconds(r.RequestSloAttainment * 100, "%")}, p99 {Seconds(r.P99Ms, " ms")}); failed requests {r.Failed} (dropped at the concurrency cap {r.Dropped})");
            if (r.Baseline is { } b)
            {
                await output.WriteLineAsync($"baseline, the same load on {b.Pods} fixed pods (autoscaler off): windows within the SLO {Seconds(b.SloAttainment * 100, "%")}, requests within it {Seconds(b.RequestSloAttainment * 100, "%")}, p99 {Seconds(b.P99Ms, " ms")}, failed {b.Failed}, dropped {b.Dropped}");
            }
            await output.WriteLineAsync($"step → first scale-out decision: {Seconds(r.DecisionSeconds, " s")}; decision → first request on a new pod: standby {Seconds(r.StandbyServeSeconds, " s")}, cold {Seconds(r.ColdServeSeconds, " s")} ({r.ColdLabel}{(cold is null ? "" : $", silo joined {Seconds(cold.JoinedSeconds, " s")}")})");
            await output.WriteLineAsync($"offline ({r.OfflineTrace}): imbalance fixed R {CliOutput.Num(r.ImbalanceFixedR)} → autoscaled {CliOutput.Num(r.ImbalanceAutoscaled)}; remote fraction {CliOutput.Num(r.RemoteFixedR, 4)} → {CliOutput.Num(r.RemoteAutoscaled, 4)}");
            if (r.Experts is not { } experts)
            {
                await output.WriteLineAsync("expert replicas: not autoscaled in this run (--autoscale-experts not given), so the hottest experts' replicas did not change");
                return;
            }

            await output.WriteLineAsync($"expert replicas (live load at the end): imbalance {CliOutput.Num(experts.ImbalanceBefore)} before → {CliOutput.Num(experts.ImbalanceAfter)} after; hottest: " +
                string.Join(", ", experts.Hottest.Select(h => $"L{h.Layer}/E{h.Expert} {h.ReplicasBefore}→{h.ReplicasAfter}")));
        }

        private static string Seconds(double? value, string unit) => value is { } v ? CliOutput.Num(v, 2) + unit : "-";

        private sealed record PlanSnapshot(PlacementPlan Plan, WorkloadProfile Load, double Imbalance);
    }
}

/// <summary>The JSON of <c>moectl bench elastic --json</c> (issue 14's keys first).</summary>
/// <param name="SloAttainment">Share of the load's windows whose p99 (failed requests counting as beyond it) is within the SLO.</param>
/// <param name="DecisionSeconds">From the load step to the first scale-out decision (negative: it scaled out before the step).</param>
/// <param name="StandbyServeSeconds">Decision → first request served on a new pod, for the first scale-out onto a standby.</param>
/// <param name="ColdServeSeconds">The same for a cold scale-out (a silo started); see <paramref name="ColdLabel"/>.</param>
/// <param name="ColdLabel">Where the cold figure comes from.</param>
/// <param name="Failed">Requests that failed (the step and the cold scale-out's load).</param>
/// <param name="Dropped">Requests not sent at the concurrency cap (counted against SLO attainment, not as failures).</param>
/// <param name="ScaleChanges">Every change the autoscaler made, with its reason and timings.</param>
/// <param name="ImbalanceFixedR">Offline: the fixed-R plan's imbalance.</param>
/// <param name="ImbalanceAutoscaled">Offline: the autoscaled plan's imbalance.</param>
/// <param name="RemoteFixedR">Offline: the fixed-R plan's remote fraction.</param>
/// <param name="RemoteAutoscaled">Offline: the autoscaled plan's remote fraction.</param>
/// <param name="OfflineTrace">The trace of the offline figures.</param>
/// <param name="CpuQuota">The CPU quota per silo, or why there is none.</param>
/// <param name="Load">The step load's report (as <c>moectl load --json</c> prints it).</param>
/// <param name="Experts">The hottest experts' replicas and the imbalance before and after; null when expert replicas were not autoscaled.</param>
public sealed record ElasticLiveReport(
    double? SloAttainment,
    double? DecisionSeconds,
    double? StandbyServeSeconds,
    double? ColdServeSeconds,
    string ColdLabel,
    long Failed,
    long Dropped,
    IReadOnlyList<AutoscaleChange> ScaleChanges,
    double ImbalanceFixedR,
    double ImbalanceAutoscaled,
    double RemoteFixedR,
    double RemoteAutoscaled,
    string OfflineTrace,
    string CpuQuota,
    object Load,
    ElasticExperts? Experts)
{
    /// <summary>Share of the step's requests served within the SLO (failed and dropped ones miss it).</summary>
    public double? RequestSloAttainment { get; init; }

    /// <summary>The step's p99 latency of served requests (ms).</summary>
    public double? P99Ms { get; init; }

    /// <summary>The same load on the starting pods with the autoscaler off; null with <c>--no-baseline</c>.</summary>
    public ElasticBaseline? Baseline { get; init; }

    /// <summary>Seconds of untimed requests before the arms, until the data path was steady or <c>--warmup</c> passed.</summary>
    public double WarmupSeconds { get; init; }

    /// <summary>The longest warm-up of each standby (<c>--standby-warmup</c>; 0: the standbys were cold).</summary>
    public double StandbyWarmupLimitSeconds { get; init; }

    /// <summary>How the gateway homed requests (<c>--homes</c>): <c>token</c> or <c>request</c>.</summary>
    public string Homes { get; init; } = "token";
}

/// <summary>The baseline arm of the live step: the same requests on a fixed pod count, the autoscaler off.</summary>
/// <param name="Pods">The fixed pod count (the starting pods).</param>
/// <param name="SloAttainment">Share of windows whose p99 is within the SLO, as <see cref="ElasticLiveReport.SloAttainment"/>.</param>
/// <param name="RequestSloAttainment">Share of requests served within the SLO.</param>
/// <param name="P99Ms">p99 latency of served requests (ms).</param>
/// <param name="Failed">Requests that failed.</param>
/// <param name="Dropped">Requests not sent at the concurrency cap.</param>
public sealed record ElasticBaseline(int Pods, double? SloAttainment, double? RequestSloAttainment, double? P99Ms, long Failed, long Dropped)
{
    /// <summary>Seconds after this arm until a 5 s run of the base load (not counted) met the SLO with nothing failed (at most six runs).</summary>
    public double? RecoverySeconds { get; init; }
}

/// <summary>Expert replicas before and after the run, on the live load at its end.</summary>
/// <param name="ImbalanceBefore">Predicted expert-load imbalance of the plan before the step.</param>
/// <param name="ImbalanceAfter">The same for the plan at the end.</param>
/// <param name="Hottest">The five hottest (layer, expert) and their replicas.</param>
public sealed record ElasticExperts(double ImbalanceBefore, double ImbalanceAfter, IReadOnlyList<ElasticHotExpert> Hottest);

/// <summary>One hot expert's replicas before and after.</summary>
/// <param name="Layer">MoE layer.</param>
/// <param name="Expert">Expert.</param>
/// <param name="Load">Its windowed load (dispatches) at the end.</param>
/// <param name="ReplicasBefore">Replicas in the plan before the step.</param>
/// <param name="ReplicasAfter">Replicas in the plan at the end.</param>
public sealed record ElasticHotExpert(int Layer, int Expert, long Load, int ReplicasBefore, int ReplicasAfter);
