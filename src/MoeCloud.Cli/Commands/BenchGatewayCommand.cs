using System.Diagnostics;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Client;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl bench gateway</c>: replays a routing trace (the shared ESFT law trace, or a synthetic one) through the
/// gateway in front of a live embedded cluster, once with speculative pre-scheduling and once with YARP's
/// least-requests policy, fitted on even sequences and scored on odd ones; then measures the gateway's latency
/// overhead on 16-token requests against the same requests sent straight to a pod.
/// </summary>
public static class BenchGatewayCommand
{
    private const string Model = "bench-routing";

    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench gateway",
            "Trace replay through the gateway: speculative pre-scheduling vs least-requests, prediction hit rate vs the simulator, and gateway latency overhead.",
            "",
            [
                new("trace", "<dir> routing trace to replay (default: ../shared/traces/esft-law, else a synthetic trace)"),
                new("silos", "<N> pods (default 4)"),
                new("tokens", "<N> tokens of the odd half to replay (default 1200)"),
                new("overhead-requests", "<N> 16-token requests for the latency comparison (default 60)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        int silos = args.GetInt("silos", 4, 2, 16), replayTokens = args.GetInt("tokens", 1200, 10, 1_000_000), overheadRequests = args.GetInt("overhead-requests", 60, 4, 100_000);
        var log = console.Error;
        var trace = LoadTrace(args.Get("trace"), log);
        var (fit, heldOut) = trace.SplitEvenOdd();
        var replay = heldOut.SelectTokens(Enumerable.Range(0, Math.Min(replayTokens, heldOut.Tokens)).ToArray(), heldOut.Manifest.Name);
        var plan = await DemoDeployment.Solve(trace, silos, redundant: silos, "ilp", timeLimitSeconds: 10, log, ct);
        var transitions = TransitionModel.FromProfile(WorkloadProfile.FromTrace(fit));
        var simulated = Simulator.Run(plan, replay, new SimulationOptions { Home = HomePolicy.Speculative, Speculative = new SpeculativeOptions { AffinityMargin = new GatewayOptions().SequenceAffinityMargin } }, transitions);
        var modelDir = await EnsureModel(trace, log, ct);
        await using var cluster = await EmbeddedCluster.Start(silos, new Dictionary<string, string> { [Model] = modelDir }, cancellationToken: ct);
        await cluster.Publish(WirePlan.From(Model, plan, version: 1));

        var speculative = await Replay(cluster, modelDir, fit, replay, HomePolicyName.Speculative, concurrency: 1, log, ct);
        var least = await Replay(cluster, modelDir, fit, replay, HomePolicyName.LeastRequests, concurrency: 4, log, ct);
        var overhead = await Overhead(cluster, modelDir, fit, overheadRequests, ct);
        var result = new Dictionary<string, object>
        {
            ["trace"] = trace.Manifest.Name,
            ["pods"] = silos,
            ["tokens"] = replay.Tokens,
            ["speculative"] = speculative,
            ["leastRequests"] = least,
            ["simulatedPredictionHitRate"] = simulated.PredictionHitRate,
            ["simulatedRemoteFraction"] = simulated.RemoteFraction,
            ["simulatedHomeLoadImbalance"] = simulated.HomeLoadImbalance,
            ["remoteRatio"] = (double)speculative["remoteFraction"] / Math.Max(1e-12, (double)least["remoteFraction"]),
            ["overhead"] = overhead,
        };
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, result);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["policy", "remote fraction", "home-load imbalance", "prediction hit rate", "failed"],
            new[] { ("speculative", speculative), ("least-requests", least) }.Select(p => (IReadOnlyList<string>)[p.Item1, CliOutput.Num((double)p.Item2["remoteFraction"], 4), CliOutput.Num((double)p.Item2["homeLoadImbalance"], 3), CliOutput.Num((double)p.Item2["predictionHitRate"], 4), p.Item2["failed"].ToString()!])));
        await console.Out.WriteLineAsync($"{trace.Manifest.Name}, {replay.Tokens} held-out tokens on {silos} pods (ilp plan): speculative / least-requests remote = {CliOutput.Num((double)result["remoteRatio"], 3)}; simulator: remote {CliOutput.Num(simulated.RemoteFraction, 4)}, home imbalance {CliOutput.Num(simulated.HomeLoadImbalance, 3)}, hit rate {CliOutput.Num(simulated.PredictionHitRate, 4)}");
        await console.Out.WriteLineAsync($"16-token requests: gateway p50 {CliOutput.Num(overhead["gatewayP50Ms"], 2)} ms, p99 {CliOutput.Num(overhead["gatewayP99Ms"], 2)} ms; direct p50 {CliOutput.Num(overhead["directP50Ms"], 2)} ms, p99 {CliOutput.Num(overhead["directP99Ms"], 2)} ms");
        return Moectl.Ok;
    }

    private static RoutingTrace LoadTrace(string? path, TextWriter log)
    {
        if (path is not null)
        {
            return TraceDirectory.Read(path);
        }

        var shared = SharedTraces.All().FirstOrDefault(d => Path.GetFileName(d) == "esft-law");
        if (shared is not null)
        {
            return TraceDirectory.Read(shared);
        }

        log.WriteLine("../shared/traces is absent: replaying a synthetic trace with default knobs");
        return SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Tokens = 4096, Sequences = 32 }, "synthetic");
    }

    /// <summary>A cheap model with the trace's shape (the replay forces the trace's routing; the compute is small on purpose).</summary>
    private static async Task<string> EnsureModel(RoutingTrace trace, TextWriter log, CancellationToken ct)
    {
        var dir = Path.Combine(DemoDeployment.Home, "models", $"routing-l{trace.Layers}-e{trace.Experts}-k{trace.TopK}");
        if (File.Exists(Path.Combine(dir, ModelCheckpoint.ConfigFile)))
        {
            return dir;
        }

        var (tiny, _) = SyntheticModelPresets.Get("tiny");
        var spec = tiny with { Layers = trace.Layers, MoeLayerIndices = ModelSpec.ContiguousMoeLayers(0, trace.Layers), Experts = trace.Experts, TopK = trace.TopK, SharedExperts = 0, SharedIntermediate = 0, DType = WeightDType.F32 };
        await log.WriteLineAsync($"creating a {trace.Layers}-layer × {trace.Experts}-expert model for routing replays in {dir}");
        await Task.Run(() => SyntheticModelWriter.Write(dir + ".tmp", spec.Validate(), 128, new SyntheticModelOptions()), ct);
        Directory.Move(dir + ".tmp", dir);
        return dir;
    }

    private static async Task<Dictionary<string, object>> Replay(ILocalCluster cluster, string modelDir, RoutingTrace fit, RoutingTrace replay, HomePolicyName policy, int concurrency, TextWriter log, CancellationToken ct)
    {
        await log.WriteLineAsync($"replaying {replay.Tokens} tokens through the gateway ({policy}, {concurrency} in flight)");
        await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, fit, policy, ct);
        int hidden;
        using (var checkpoint = ModelCheckpoint.Open(modelDir))
        {
            hidden = checkpoint.Spec.Hidden;
        }

        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var raw = new MoeService.MoeServiceClient(channel);
        var headers = new Grpc.Core.Metadata { { "x-api-key", gateway.ApiKey } };
        var stride = replay.Layers * replay.TopK;
        long local = 0, remote = 0, hits = 0;
        var homeCounts = new long[cluster.Endpoints.Count];
        var failed = 0;
        var next = -1;
        async Task Worker()
        {
            int t;
            while ((t = Interlocked.Increment(ref next)) < replay.Tokens)
            {
                var ids = replay.ExpertIds.AsSpan(t * stride, stride).ToArray().Select(e => (int)e).ToArray();
                var weights = replay.GateWeights!.AsSpan(t * stride, stride).ToArray();
                var request = new ForwardRequest
                {
                    Model = Model,
                    FirstLayer = 0,
                    LastLayer = replay.Layers - 1,
                    SequenceId = replay.SeqIds is { } s ? s[t].ToString(System.Globalization.CultureInfo.InvariantCulture) : "",
                    Hidden = TensorCodec.WriteMatrix(RuntimeCommands.RandomHidden(1, hidden, t), 1, hidden),
                    Routing = TensorCodec.WriteRouting(ids, weights, replay.TopK),
                };
                try
                {
                    var response = await raw.ForwardAsync(request, headers, cancellationToken: ct);
                    Interlocked.Add(ref local, response.LocalDispatches);
                    Interlocked.Add(ref remote, response.RemoteDispatches);
                    Interlocked.Increment(ref homeCounts[response.HomePods[0]]);
                    Interlocked.Add(ref hits, response.HomePods[0] == response.BestHomes[0] ? 1 : 0);
                }
                catch (Grpc.Core.RpcException)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Worker()));
        var served = Math.Max(1, replay.Tokens - failed);
        return new Dictionary<string, object>
        {
            ["remoteFraction"] = (double)remote / Math.Max(1, local + remote),
            ["homeLoadImbalance"] = homeCounts.Max() / ((double)homeCounts.Sum() / homeCounts.Length),
            ["predictionHitRate"] = (double)hits / served,
            ["failed"] = failed,
        };
    }

    private static async Task<Dictionary<string, double>> Overhead(ILocalCluster cluster, string modelDir, RoutingTrace fit, int requests, CancellationToken ct)
    {
        await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, fit, HomePolicyName.Speculative, ct);
        using var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey });
        var info = await client.GetModelAsync(Model, ct);
        using var direct = GrpcChannel.ForAddress(cluster.Endpoints[0].Runner);
        var pod = new MoeService.MoeServiceClient(direct);
        var viaGateway = new List<double>();
        var straight = new List<double>();
        for (var i = 0; i < requests + 4; i++)
        {
            var hidden = RuntimeCommands.RandomHidden(16, info.Hidden, 1000 + i);
            var started = Stopwatch.GetTimestamp();
            await client.ForwardAsync(Model, hidden, 16, info.Hidden, 0, info.MoeLayers - 1, cancellationToken: ct);
            var g = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            started = Stopwatch.GetTimestamp();
            await pod.ForwardAsync(new ForwardRequest { Model = Model, FirstLayer = 0, LastLayer = info.MoeLayers - 1, Hidden = TensorCodec.WriteMatrix(hidden, 16, info.Hidden) }, cancellationToken: ct);
            var d = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (i >= 4)
            {
                viaGateway.Add(g);
                straight.Add(d);
            }
        }

        return new Dictionary<string, double>
        {
            ["gatewayP50Ms"] = CliOutput.Percentile(viaGateway, 0.5),
            ["gatewayP99Ms"] = CliOutput.Percentile(viaGateway, 0.99),
            ["directP50Ms"] = CliOutput.Percentile(straight, 0.5),
            ["directP99Ms"] = CliOutput.Percentile(straight, 0.99),
        };
    }
}
