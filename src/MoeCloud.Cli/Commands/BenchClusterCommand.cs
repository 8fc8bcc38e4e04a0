using System.Diagnostics;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl bench cluster</c>: replays a trace through the gateway's request path (<see cref="GatewayForwarder"/>, in
/// this process, with its speculative pre-scheduler fitted on the trace's even sequences) in front of the embedded and
/// the multi-process cluster (forced routing), beside the single-process reference forward, then switches plans under
/// load. Errors are normalised: max |cluster − reference| / max |reference| per request. The simulated remote fraction
/// is the simulator's on the homes the gateway chose.
/// </summary>
public static class BenchClusterCommand
{
    private const string Model = "bench";

    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench cluster",
            "Trace replay through the gateway in front of the embedded and multi-process clusters against the single-process reference, and a plan switch under load.",
            "",
            [
                new("silos", "<N> silos (default 4)"),
                new("requests", "<N> requests of the replay, about (default 48)"),
                new("tokens", "<N> tokens per request (default 64)"),
                new("concurrency", "<N> requests in flight (default 4)"),
                new("modes", "<list> embedded,processes (default both)"),
                new("seed", "<N> model and input seed (default 1)"),
                new("size", "<name> model: bench (hidden 1024, intermediate 512, 16 experts, top-2, 8 layers; default) or tiny (a quick check)"),
                new("homes", $"<token|request|auto> {HomesArg.Help} (default token)"),
                new("dtype", "<f32|bf16> weights of the bench model, for the reference and the cluster alike (default f32); compute is fp32 either way"),
                new("link", "<rate> run the silo processes in network namespaces joined by veth pairs shaped with tc tbf at this rate (for example 400mbit; needs root), and compare contiguous+least-requests, eplb+least-requests, ilp+speculative (token homes and request homes) and ilp+speculative+re-homing"),
                new("rehome", "silos re-home tokens between layers with the fit sequences' statistics (the simulated remote fraction re-homes too)", IsFlag: true),
                new("micro-batches", "<N> silos cut each step of 16 tokens or more into N micro-batches (two-batch overlap, 2 to 4); with --link, an extra row: ilp+speculative on a cluster whose silos do"),
                new("warmup", BenchTiming.WarmupHelp),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        int silos = args.GetInt("silos", 4, 1, 16), requestsWanted = args.GetInt("requests", 48, 2, 10_000), tokens = args.GetInt("tokens", 64, 1, 4096);
        int concurrency = args.GetInt("concurrency", 4, 1, 256), seed = args.GetInt("seed", 1);
        // Checked before any model is made: a bad rate is a usage error, not minutes of set-up later.
        if (args.Get("link") is { } rate && !System.Text.RegularExpressions.Regex.IsMatch(rate, "^[0-9]+(\\.[0-9]+)?(kbit|mbit|gbit)$"))
        {
            throw new UsageException($"option '--link' takes a tc rate such as 400mbit or 1gbit, got '{rate}'");
        }

        var microBatches = args.Get("micro-batches") is null ? 1 : args.GetInt("micro-batches", 2, 2, 4);
        var warmup = BenchTiming.Warmup(args);
        var modes = (args.Get("modes") ?? "embedded,processes").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (modes.Length == 0 || modes.Any(m => m is not ("embedded" or "processes")))
        {
            throw new UsageException("option '--modes' takes embedded, processes or both (comma-separated)");
        }

        // 1. A model where expert compute dominates, a trace recorded from it, a plan fitted on its even sequences.
        var log = console.Error;
        var dtype = args.GetChoice("dtype", "f32", "f32", "bf16") == "bf16" ? WeightDType.BF16 : WeightDType.F32;
        var modelDir = args.GetChoice("size", "bench", "bench", "tiny") == "tiny"
            ? await DemoDeployment.EnsureModel("tiny", seed, log, ct)
            : await EnsureBenchModel(seed, dtype, log, ct);
        var trace = await DemoDeployment.Record(modelDir, tokens: 2 * requestsWanted * tokens, sequences: 2 * requestsWanted, seed, ct);
        var plan = await DemoDeployment.Solve(trace, silos, redundant: silos, "ilp", timeLimitSeconds: 10, log, ct);
        var (fit, replay) = trace.SplitEvenOdd();
        var granularity = HomesArg.Parse(args);
        var rehome = args.Has("rehome");
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var spec = checkpoint.Spec;
        var requests = TraceReplay.Build(replay, spec.Hidden, tokens, seed);
        var replayTokens = requests.Sum(r => r.Tokens.Length);

        if (args.Get("link") is { } link)
        {
            return await RunLinked(link, silos, concurrency, modelDir, trace, fit, requests, spec, microBatches, warmup, args.Json, console, ct);
        }

        // 2. The single-process reference on the whole machine.
        await log.WriteLineAsync($"reference: {requests.Count} requests, {replayTokens} tokens, {spec.MoeLayers} layers × {spec.Experts} experts (top-{spec.TopK}, hidden {spec.Hidden}, intermediate {spec.ExpertIntermediate})");
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
        Forward(reference, spec, requests[0]);
        await SteadyWarmup.WarmUp(warmup, i =>
        {
            Forward(reference, spec, requests[i % requests.Count]);
            return Task.CompletedTask;
        }, SiloScrape.JitProbe(null, ct));
        var started = Stopwatch.GetTimestamp();
        var expected = requests.Select(r => Forward(reference, spec, r)).ToArray();
        var referenceTps = replayTokens / Stopwatch.GetElapsedTime(started).TotalSeconds;

        // 3. Each cluster mode, behind a gateway: a timed replay, then a plan switch under load.
        var results = new List<Dictionary<string, object>>();
        var document = WirePlan.From(Model, plan, version: 1);
        foreach (var mode in modes)
        {
            await log.WriteLineAsync($"{mode}: starting {silos} silos");
            var models = new Dictionary<string, string> { [Model] = modelDir };
            await using var cluster = await LocalClusters.Start(mode, silos, models, rehome ? new Dictionary<string, string> { [Model] = LocalClusters.SaveProfile(Model, fit) } : null, ct, microBatches: microBatches);
            await cluster.Publish(document);
            await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, fit, HomePolicyName.Speculative, ct, granularity);
            var replayer = new Replayer(gateway.Forwarder, spec, concurrency, gateway.Options.DefaultDeadline);
            await Warm(replayer, cluster, requests, concurrency, warmup, ct);
            var outcome = await replayer.Run(requests, ct);
            var row = Row(mode + (rehome ? "+rehome" : "") + (microBatches > 1 ? $"+{microBatches}mb" : ""), outcome, replayTokens, referenceTps, expected);
            row["rehome"] = rehome;
            row["microBatches"] = microBatches;
            if (outcome.HomesByToken(requests, replay.Tokens) is { } homes)
            {
                var transitions = rehome ? TransitionModel.FromProfile(WorkloadProfile.FromTrace(fit, sampleCap: 0)) : null;
                row["simulatedRemoteFraction"] = Simulator.Run(plan, replay, homes, new SimulationOptions { Rehome = rehome }, transitions).RemoteFraction;
            }

            results.Add(row);
            results.Add(await SwitchUnderLoad(cluster, replayer, document, requests, replayTokens, referenceTps, expected, log, ct));
        }

        return await Print(results, args.Json, console);
    }

    /// <summary>
    /// <c>--link</c>: the silo processes in a <see cref="ShapedNetwork"/>, the same replay (same requests, same
    /// concurrency) under four placement and routing pairs. Re-homing needs silos started with it, so its row runs on a
    /// second cluster in a second network of the same shape; with <paramref name="microBatches"/> above 1, a third
    /// cluster whose silos cut each step into micro-batches runs ilp + speculative once more.
    /// </summary>
    private static async Task<int> RunLinked(string rate, int silos, int concurrency, string modelDir, Model.Traces.RoutingTrace trace, Model.Traces.RoutingTrace fit, IReadOnlyList<ReplayRequest> requests, ModelSpec spec, int microBatches, TimeSpan warmup, bool json, CliConsole console, CancellationToken ct)
    {
        var log = console.Error;
        if (ShapedNetwork.Unavailable() is { } why)
        {
            await log.WriteLineAsync($"bench cluster --link: skipped: {why}");
            return Moectl.Ok;
        }

        var plans = new Dictionary<string, Placement.Plans.PlacementPlan>();
        foreach (var solver in new[] { "contiguous", "eplb", "ilp" })
        {
            plans[solver] = await DemoDeployment.Solve(trace, silos, redundant: silos, solver, timeLimitSeconds: 10, log, ct);
        }

        // Speculative homes per token (the gateway splits a request over the homes) and per request (the whole request
        // to the home its tokens' predicted experts favour): the split's smaller kernel batches against its fewer
        // remote dispatches.
        (string Placement, HomePolicyName Routing, HomeGranularity Homes, bool Rehome, int MicroBatches)[] configurations =
        [
            ("contiguous", HomePolicyName.LeastRequests, HomeGranularity.Token, false, 1),
            ("eplb", HomePolicyName.LeastRequests, HomeGranularity.Token, false, 1),
            ("ilp", HomePolicyName.Speculative, HomeGranularity.Token, false, 1),
            ("ilp", HomePolicyName.Speculative, HomeGranularity.Request, false, 1),
            ("ilp", HomePolicyName.Speculative, HomeGranularity.Token, true, 1),
            .. microBatches > 1 ? [("ilp", HomePolicyName.Speculative, HomeGranularity.Token, false, microBatches)] : Array.Empty<(string, HomePolicyName, HomeGranularity, bool, int)>(),
        ];
        var replayTokens = requests.Sum(r => r.Tokens.Length);
        var rows = new List<Dictionary<string, object>>();
        foreach (var (rehome, cut) in configurations.Select(c => (c.Rehome, c.MicroBatches)).Distinct().ToArray())
        {
            await log.WriteLineAsync($"shaped network: {silos} namespaces at {rate}{(rehome ? ", silos re-homing" : "")}{(cut > 1 ? $", silos cutting steps into {cut} micro-batches" : "")}");
            await using var network = await ShapedNetwork.Create(silos, rate, ct);
            var profiles = rehome ? new Dictionary<string, string> { [Model] = LocalClusters.SaveProfile(Model, fit) } : null;
            await using var cluster = await ProcessCluster.Start(silos, new Dictionary<string, string> { [Model] = modelDir }, TextWriter.Null, ct, profiles, network, microBatches: cut);
            var version = 0;
            foreach (var (placement, routing, homes, _, _) in configurations.Where(c => c.Rehome == rehome && c.MicroBatches == cut))
            {
                await cluster.Publish(WirePlan.From(Model, plans[placement], ++version));
                await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, fit, routing, ct, homes);
                var replayer = new Replayer(gateway.Forwarder, spec, concurrency, gateway.Options.DefaultDeadline);
                await Warm(replayer, cluster, requests, concurrency, warmup, ct);
                var outcome = await replayer.Run(requests, ct);
                var row = new Dictionary<string, object>
                {
                    ["placement"] = placement,
                    ["routing"] = routing == HomePolicyName.LeastRequests ? "least-requests" : "speculative",
                    ["homes"] = HomesArg.Name(homes),
                    ["rehome"] = rehome,
                    ["microBatches"] = cut,
                    ["tokensPerSecond"] = replayTokens / outcome.Seconds,
                    ["p50Ms"] = CliOutput.Percentile(outcome.LatenciesMs, 0.5),
                    ["p99Ms"] = CliOutput.Percentile(outcome.LatenciesMs, 0.99),
                    ["remoteFraction"] = (double)outcome.Remote / Math.Max(1, outcome.Local + outcome.Remote),
                    ["failed"] = outcome.Failed,
                };
                rows.Add(row);
                await log.WriteLineAsync($"{placement} + {row["routing"]}{(homes == HomeGranularity.Request ? " (request homes)" : "")}{(rehome ? " + re-homing" : "")}{(cut > 1 ? $" + {cut} micro-batches" : "")}: {(double)row["tokensPerSecond"]:F0} tokens/s, p50 {(double)row["p50Ms"]:F0} ms, remote {(double)row["remoteFraction"]:F3}");
            }
        }

        if (json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new Dictionary<string, object> { ["link"] = rate, ["rows"] = rows });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync($"silo processes in network namespaces, every link shaped to {rate}; {requests.Count} requests of {requests[0].Tokens.Length} tokens, {concurrency} in flight");
        await console.Out.WriteLineAsync(CliOutput.Table(
            ["placement", "routing", "homes", "rehome", "micro-batches", "tokens/s", "p50 ms", "p99 ms", "remote", "failed"],
            rows.Select(r => (IReadOnlyList<string>)[(string)r["placement"], (string)r["routing"], (string)r["homes"], (bool)r["rehome"] ? "yes" : "no", r["microBatches"].ToString()!, CliOutput.Num((double)r["tokensPerSecond"], 0), CliOutput.Num((double)r["p50Ms"], 1), CliOutput.Num((double)r["p99Ms"], 1), CliOutput.Num((double)r["remoteFraction"], 4), r["failed"].ToString()!])));
        return Moectl.Ok;
    }

    private static async Task<Dictionary<string, object>> SwitchUnderLoad(ILocalCluster cluster, Replayer replayer, Abstractions.WirePlan v1, IReadOnlyList<ReplayRequest> requests, int replayTokens, double referenceTps, float[][] expected, TextWriter log, CancellationToken ct)
    {
        // Plan 2 moves every replica of the even layers to the next pod: about half of all replicas.
        var before = ServingPlan.From(v1);
        var v2 = WirePlan.FromAssignment(Model, 2, v1.Pods, v1.Layers, v1.Experts, (l, e) => before.PodsOf(l, e).ToArray().Select(p => l % 2 == 0 ? (p + 1) % v1.Pods : p));
        var steady = await replayer.Run(requests, ct);
        IReadOnlyList<ReplayRequest> looped = [.. requests, .. requests, .. requests];
        var loop = replayer.Run(looped, ct);
        await Task.Delay(TimeSpan.FromSeconds(steady.Seconds / 3), ct);
        var switchStart = Stopwatch.GetTimestamp();
        var status = await cluster.Publish(v2);
        var switchEnd = Stopwatch.GetTimestamp();
        var during = await loop;
        var switchSeconds = Stopwatch.GetElapsedTime(switchStart, switchEnd).TotalSeconds;
        await log.WriteLineAsync($"plan switch: {status.ReplicasWarmed} replica moves in {switchSeconds:F2} s under load");

        // Throughput while the switch ran: tokens of the requests that completed inside the switch window.
        // No simulated remote fraction: the simulator has no figure for a plan switched in the middle of a replay.
        var row = Row($"{cluster.Mode}-plan-switch", during, looped.Sum(r => r.Tokens.Length), referenceTps, [.. expected, .. expected, .. expected]);
        var steadyTps = replayTokens / steady.Seconds;
        var windowTps = during.TokensPerSecondBetween(looped, switchStart, switchEnd);
        row["steadyTokensPerSecond"] = steadyTps;
        row["duringSwitchTokensPerSecond"] = windowTps;
        row["switchRatio"] = windowTps / steadyTps;
        row["switchSeconds"] = switchSeconds;
        row["replicaMoves"] = status.ReplicasWarmed;
        row["replicas"] = before.Replicas().Count();
        return row;
    }

    /// <summary>The replay's first requests, untimed, and again until the cluster is steady (<see cref="SteadyWarmup.WarmUp"/>) or <paramref name="warmup"/> has passed.</summary>
    private static async Task Warm(Replayer replayer, ILocalCluster cluster, IReadOnlyList<ReplayRequest> requests, int concurrency, TimeSpan warmup, CancellationToken ct)
    {
        var first = requests.Take(concurrency * 2).ToArray();
        await replayer.Run(first, ct);
        await SteadyWarmup.WarmUp(warmup, _ => replayer.Run(first, ct), SiloScrape.JitProbe(cluster, ct));
    }

    private static Dictionary<string, object> Row(string mode, ReplayOutcome outcome, int tokens, double referenceTps, float[][] expected)
    {
        var maxError = 0.0;
        var compared = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            if (outcome.Outputs[i] is { } actual)
            {
                compared++;
                maxError = Math.Max(maxError, ResultError.MaxRelative(expected[i], actual));
            }
        }

        var tps = tokens / outcome.Seconds;
        return new Dictionary<string, object>
        {
            ["mode"] = mode,
            ["tokensPerSecond"] = tps,
            ["referenceTokensPerSecond"] = referenceTps,
            ["ratio"] = tps / referenceTps,
            ["p50Ms"] = CliOutput.Percentile(outcome.LatenciesMs, 0.5),
            ["p99Ms"] = CliOutput.Percentile(outcome.LatenciesMs, 0.99),
            ["remoteFraction"] = (double)outcome.Remote / Math.Max(1, outcome.Local + outcome.Remote),
            ["maxRelError"] = maxError,
            ["comparedRequests"] = compared,
            ["failed"] = outcome.Failed,
        };
    }

    private static async Task<int> Print(List<Dictionary<string, object>> results, bool json, CliConsole console)
    {
        if (json)
        {
            await CliOutput.WriteJsonAsync(console.Out, results);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["mode", "tokens/s", "reference tokens/s", "ratio", "p50 ms", "p99 ms", "remote", "simulated remote", "max rel error", "failed"],
            results.Select(r => (IReadOnlyList<string>)
            [
                (string)r["mode"], CliOutput.Num((double)r["tokensPerSecond"], 0), CliOutput.Num((double)r["referenceTokensPerSecond"], 0), CliOutput.Num((double)r["ratio"], 2),
                CliOutput.Num((double)r["p50Ms"], 1), CliOutput.Num((double)r["p99Ms"], 1), CliOutput.Num((double)r["remoteFraction"], 4), r.TryGetValue("simulatedRemoteFraction", out var sim) ? CliOutput.Num((double)sim, 4) : "n/a",
                ((double)r["maxRelError"]).ToString("E1", System.Globalization.CultureInfo.InvariantCulture), r["failed"].ToString()!,
            ])));
        foreach (var s in results.Where(r => r.ContainsKey("switchRatio")))
        {
            await console.Out.WriteLineAsync($"{s["mode"]}: {s["replicaMoves"]} replica moves of {s["replicas"]} replicas in {CliOutput.Num((double)s["switchSeconds"], 2)} s; throughput {CliOutput.Num((double)s["duringSwitchTokensPerSecond"], 0)} tokens/s vs {CliOutput.Num((double)s["steadyTokensPerSecond"], 0)} steady ({CliOutput.Num((double)s["switchRatio"], 2)}×)");
        }

        return Moectl.Ok;
    }

    /// <summary>Replays requests through one gateway's forwarder with the same concurrency and deadline each time.</summary>
    private sealed record Replayer(GatewayForwarder Forwarder, ModelSpec Spec, int Concurrency, TimeSpan Deadline)
    {
        public Task<ReplayOutcome> Run(IReadOnlyList<ReplayRequest> requests, CancellationToken ct) =>
            TraceReplay.Run(Forwarder, Model, Spec.MoeLayers, Spec.TopK, requests, Concurrency, Deadline, ct);
    }

    private static float[] Forward(ReferenceForward reference, ModelSpec spec, ReplayRequest request)
    {
        int n = request.Tokens.Length, layers = spec.MoeLayers, k = spec.TopK;
        var forced = Enumerable.Range(0, layers).Select(l =>
        {
            var ids = new int[n * k];
            var w = new float[n * k];
            for (var t = 0; t < n; t++)
            {
                Array.Copy(request.Ids, ((t * layers) + l) * k, ids, t * k, k);
                Array.Copy(request.Weights, ((t * layers) + l) * k, w, t * k, k);
            }

            return new RoutingAssignment(n, k, ids, w);
        }).ToArray();
        return reference.ForwardStack(0, layers - 1, request.Hidden, n, forced);
    }

    private static async Task<string> EnsureBenchModel(int seed, WeightDType dtype, TextWriter log, CancellationToken ct)
    {
        var dir = Path.Combine(DemoDeployment.Home, "models", $"bench-h1024-i512-e16-k2-l8-seed{seed}" + (dtype == WeightDType.F32 ? "" : "-bf16"));
        if (File.Exists(Path.Combine(dir, ModelCheckpoint.ConfigFile)))
        {
            return dir;
        }

        var (tiny, _) = SyntheticModelPresets.Get("tiny");
        var spec = tiny with
        {
            Layers = 8,
            MoeLayerIndices = ModelSpec.ContiguousMoeLayers(0, 8),
            Experts = 16,
            TopK = 2,
            Hidden = 1024,
            ExpertIntermediate = 512,
            SharedExperts = 0,
            SharedIntermediate = 0,
            DType = dtype,
        };
        await log.WriteLineAsync($"creating the benchmark model in {dir}");
        await Task.Run(() => SyntheticModelWriter.Write(dir + ".tmp", spec.Validate(), 1024, new SyntheticModelOptions { Seed = seed }), ct);
        Directory.Move(dir + ".tmp", dir);
        return dir;
    }
}
