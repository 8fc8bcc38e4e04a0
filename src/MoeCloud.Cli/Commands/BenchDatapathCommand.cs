using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using Orleans.Runtime;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Placement.Plans;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Cli.Commands;

/// <summary>Latency of steps sent straight to pods, in one cluster mode.</summary>
/// <param name="StepP50Ms">Median step.</param>
/// <param name="StepP99Ms">99th-percentile step.</param>
/// <param name="LayerP50Ms">Median step divided by the layers.</param>
/// <param name="EchoLayerMs">Median of one layer's all-to-all as a pure echo, measured on the home pod over the cluster's transport (Orleans).</param>
/// <param name="GrpcEchoLayerMs">Median of the same bytes echoed by the remote pods' gRPC endpoints, sent from this process at once.</param>
/// <param name="CopiesPerLayer">Activation rows copied by the data path per layer of a step (all pods).</param>
/// <param name="MaxRelError">Max over steps of max |cluster − reference| / max |reference|.</param>
/// <param name="AllocatedBytesPerLayer">
/// Bytes this process allocated during the timed steps (<see cref="GC.GetTotalAllocatedBytes"/>), per layer of a step:
/// with embedded pods the client, every pod's data path and their transport; with silo processes only the client.
/// </param>
/// <param name="WarmupSeconds">Untimed steps before the timed ones, until steady (<see cref="SteadyWarmup.WarmUp"/>).</param>
public sealed record DatapathMode(double StepP50Ms, double StepP99Ms, double LayerP50Ms, double EchoLayerMs, double GrpcEchoLayerMs, double CopiesPerLayer, double MaxRelError, double AllocatedBytesPerLayer, double WarmupSeconds);

/// <summary>The gateway's own added latency: the same request through the gateway and split by the same homes by the client itself.</summary>
/// <param name="AddedP50Ms">Median of (gateway − client split) over paired requests.</param>
/// <param name="AddedP99Ms">99th percentile of the same differences.</param>
/// <param name="GatewayP50Ms">Median through the gateway.</param>
/// <param name="DirectP50Ms">Median of the client's own split.</param>
public sealed record DatapathGateway(double AddedP50Ms, double AddedP99Ms, double GatewayP50Ms, double DirectP50Ms);

/// <summary>One pod count of <c>bench datapath --shape deepseek-v3</c>.</summary>
/// <param name="Pods">Embedded pods.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Routed experts per layer.</param>
/// <param name="LayerP50Ms">Median 16-token step straight to a pod, divided by the layers.</param>
/// <param name="DemoLayerP50Ms">The same on the demo model, same pods and tokens, in the same run.</param>
/// <param name="RolloutSeconds">The first plan's rollout: every replica activated, loaded and warmed.</param>
/// <param name="SwitchSeconds">A switch that moves 10% of the replicas.</param>
/// <param name="SwitchMoves">Replicas that switch moved.</param>
/// <param name="SiloOverheadMiB">(Process growth − weights loaded) / pods: the embedded silos share one process.</param>
/// <param name="ActivationsPerSilo">Orleans activations per silo (mean).</param>
/// <param name="ActivationsMax">Orleans activations on the busiest silo.</param>
public sealed record DatapathScale(int Pods, int Layers, int Experts, double LayerP50Ms, double DemoLayerP50Ms, double RolloutSeconds, double SwitchSeconds, int SwitchMoves, double SiloOverheadMiB, double ActivationsPerSilo, int ActivationsMax);

/// <summary>The same steps on a cluster whose silos cut each step into micro-batches (two-batch overlap, <c>--micro-batches</c>).</summary>
/// <param name="Mode">embedded or processes.</param>
/// <param name="MicroBatches">Micro-batches per step.</param>
/// <param name="Result">The steps' latency, as for the mode without overlap.</param>
public sealed record DatapathOverlap(string Mode, int MicroBatches, DatapathMode Result);

/// <summary>Result of <c>moectl bench datapath</c>.</summary>
public sealed record DatapathResult(
    string Model,
    int Tokens,
    int Layers,
    int Pods,
    int Steps,
    double WarmupLimitSeconds,
    double ReferenceWarmupSeconds,
    double ReferenceStepMs,
    double EchoLayerMs,
    DatapathMode? Embedded,
    DatapathMode? Processes,
    DatapathGateway? Gateway,
    double CopiesPerLayer,
    IReadOnlyList<DatapathScale>? Scale = null,
    IReadOnlyList<DatapathOverlap>? Overlap = null,
    DatapathGateway? GatewayRequestHomes = null);

/// <summary>
/// <c>moectl bench datapath</c>: the cost of the data path itself on a compute-light model (the demo model of
/// <c>moectl up</c>): the single-process reference step, a loopback echo of one layer's messages over the transport
/// (the machine's limit), steps straight to a pod on the embedded and the silo-process cluster, and the gateway against
/// a client that splits the same request by the same homes.
/// </summary>
public static class BenchDatapathCommand
{
    private const string Model = "demo";

    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench datapath",
            "The data path's own cost: reference step, per-layer echo limit, steps straight to a pod (embedded and processes), and the gateway's added latency, on the demo model.",
            "",
            [
                new("tokens", "<N> tokens per step (default 16)"),
                new("pods", "<N> pods (default 4)"),
                new("steps", "<N> timed steps per measurement (default 200)"),
                new("modes", "<list> embedded,processes (default both)"),
                new("seed", "<N> model and input seed (default 1)"),
                new("shape", "<demo|deepseek-v3> demo: the measurements above; deepseek-v3: 58 MoE layers × 256 experts, top-8, 1 shared expert, hidden 64, on 8 and 16 embedded pods"),
                new("scale-pods", "<list> pod counts of --shape deepseek-v3 (default 8,16)"),
                new("warmup", BenchTiming.WarmupHelp),
                new("micro-batches", "<N> also run each mode's steps on a cluster whose silos cut every step into N micro-batches (two-batch overlap, 2 to 4; micro-batches of 8 tokens or more), beside the same steps run whole"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        int tokens = args.GetInt("tokens", 16, 1, 4096), pods = args.GetInt("pods", 4, 2, 16), steps = args.GetInt("steps", 200, 10, 100_000), seed = args.GetInt("seed", 1);
        var microBatches = args.Get("micro-batches") is null ? 1 : args.GetInt("micro-batches", 2, 2, 4);
        var warmup = BenchTiming.Warmup(args);
        var modes = (args.Get("modes") ?? "embedded,processes").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (modes.Length == 0 || modes.Any(m => m is not ("embedded" or "processes")))
        {
            throw new UsageException("option '--modes' takes embedded, processes or both (comma-separated)");
        }

        var log = console.Error;
        if (args.GetChoice("shape", "demo", "demo", "deepseek-v3") == "deepseek-v3")
        {
            var counts = (args.Get("scale-pods") ?? "8,16").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(c => int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v is >= 2 and <= 64 ? v : throw new UsageException($"option '--scale-pods' takes pod counts in [2, 64], got '{c}'")).ToArray();
            return await RunScale(counts, tokens, Math.Max(10, steps / 10), seed, warmup, args.Json, console, ct);
        }

        var deployment = await DemoDeployment.Prepare(Model, "small", seed, pods, "ilp", log, ct);
        using var checkpoint = ModelCheckpoint.Open(deployment.ModelDirectory);
        var spec = checkpoint.Spec;
        int h = spec.Hidden, layers = spec.MoeLayers;
        var inputs = Enumerable.Range(0, 16).Select(i => RuntimeCommands.RandomHidden(tokens, h, (seed * 1000) + i)).ToArray();

        // 1. The single-process reference, one thread (a silo's kernel runs on one thread too).
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
        var expected = inputs.Select(x => reference.ForwardStack(0, layers - 1, x, tokens)).ToArray();
        Task ReferenceStep(int i)
        {
            reference.ForwardStack(0, layers - 1, inputs[i % inputs.Length], tokens);
            return Task.CompletedTask;
        }

        var referenceWarmup = await SteadyWarmup.WarmUp(warmup, ReferenceStep, SiloScrape.JitProbe(null, ct));
        var referenceMs = Percentile(await Time(steps, ReferenceStep), 0.5);
        await log.WriteLineAsync($"reference: {tokens}-token step over {layers} layers × {spec.Experts} experts (top-{spec.TopK}, hidden {h}) in {referenceMs:F3} ms");

        var document = WirePlan.From(Model, deployment.Plan, version: 1);
        var plan = ServingPlan.From(document);
        DatapathMode? embedded = null, processes = null;
        DatapathGateway? gateway = null, gatewayRequestHomes = null;
        var overlap = new List<DatapathOverlap>();
        foreach (var mode in modes)
        {
            await log.WriteLineAsync($"{mode}: starting {pods} silos");
            var models = new Dictionary<string, string> { [Model] = deployment.ModelDirectory };
            // Stopped before the overlap arm starts its own cluster, so both arms have the machine alike.
            await using (var cluster = await LocalClusters.Start(mode, pods, models, rehomeProfiles: null, ct, quiet: true))
            {
                await cluster.Publish(document);
                using (var clients = new RunnerClients(cluster))
                {
                    var runners = clients.Runners;
                    var result = await MeasureMode(cluster, runners, plan, spec.TopK, inputs, expected, tokens, h, layers, steps, warmup, ct);
                    await log.WriteLineAsync($"{mode}: step p50 {result.StepP50Ms:F2} ms, layer {result.LayerP50Ms:F3} ms, echo limit {result.EchoLayerMs:F3} ms per layer (after {result.WarmupSeconds:F0} s of untimed steps)");
                    if (mode == "embedded")
                    {
                        embedded = result;
                        await using var local = await LocalGateway.Start(cluster, Model, deployment.ModelDirectory, deployment.Trace.SplitEvenOdd().Even, HomePolicyName.Speculative, ct);
                        using var gatewayChannel = GrpcChannel.ForAddress(local.GrpcAddress);
                        gateway = await MeasureGateway(new MoeService.MoeServiceClient(gatewayChannel), local.ApiKey, runners, inputs, tokens, h, layers, steps, warmup, ct);
                        await log.WriteLineAsync($"gateway: added p50 {gateway.AddedP50Ms:F3} ms, p99 {gateway.AddedP99Ms:F3} ms");
                        await local.DisposeAsync();

                        // The same measurement with each request homed whole (HomeGranularity.Request): one sub-batch,
                        // so both arms send one request to one pod, and the step pays no split.
                        await using var whole = await LocalGateway.Start(cluster, Model, deployment.ModelDirectory, deployment.Trace.SplitEvenOdd().Even, HomePolicyName.Speculative, ct, HomeGranularity.Request);
                        using var wholeChannel = GrpcChannel.ForAddress(whole.GrpcAddress);
                        gatewayRequestHomes = await MeasureGateway(new MoeService.MoeServiceClient(wholeChannel), whole.ApiKey, runners, inputs, tokens, h, layers, steps, warmup, ct);
                        await log.WriteLineAsync($"gateway, request homes: added p50 {gatewayRequestHomes.AddedP50Ms:F3} ms, p99 {gatewayRequestHomes.AddedP99Ms:F3} ms");
                    }
                    else
                    {
                        processes = result;
                    }
                }
            }

            if (microBatches > 1)
            {
                var cut = await MeasureOverlap(mode, pods, models, document, plan, spec.TopK, inputs, expected, tokens, h, layers, steps, microBatches, warmup, ct);
                overlap.Add(cut);
                await log.WriteLineAsync($"{mode}, {microBatches} micro-batches: step p50 {cut.Result.StepP50Ms:F2} ms, layer {cut.Result.LayerP50Ms:F3} ms");
            }
        }

        var echo = (embedded ?? processes)!.EchoLayerMs;
        var copies = (embedded ?? processes)!.CopiesPerLayer;
        var summary = new DatapathResult(Model, tokens, layers, pods, steps, warmup.TotalSeconds, referenceWarmup.TotalSeconds, referenceMs, echo, embedded, processes, gateway, copies, Overlap: overlap.Count > 0 ? overlap : null, GatewayRequestHomes: gatewayRequestHomes);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, summary);
            return Moectl.Ok;
        }

        var rows = new List<IReadOnlyList<string>> { new[] { "reference (one process, one thread)", CliOutput.Num(referenceMs, 3), "", CliOutput.Num(referenceMs / layers, 3), "", "", "", "", "" } };
        foreach (var (name, m) in new[] { ("embedded, straight to a pod", embedded), ("processes, straight to a pod", processes) }.Concat(overlap.Select(o => ($"{o.Mode}, straight to a pod, {o.MicroBatches} micro-batches", (DatapathMode?)o.Result))))
        {
            if (m is not null)
            {
                rows.Add([name, CliOutput.Num(m.StepP50Ms, 3), CliOutput.Num(m.StepP99Ms, 3), CliOutput.Num(m.LayerP50Ms, 3), CliOutput.Num(m.EchoLayerMs, 3), CliOutput.Num(m.GrpcEchoLayerMs, 3), CliOutput.Num(m.CopiesPerLayer, 1), CliOutput.Num(m.AllocatedBytesPerLayer / 1024, 1), m.MaxRelError.ToString("E1", CultureInfo.InvariantCulture)]);
            }
        }

        await console.Out.WriteLineAsync($"{tokens}-token steps, {layers} MoE layers, {pods} pods, {steps} steps per row, each row after untimed steps until steady (at most {warmup.TotalSeconds:0.#} s; reference {referenceWarmup.TotalSeconds:0.#} s, embedded {embedded?.WarmupSeconds:0.#} s, processes {processes?.WarmupSeconds:0.#} s) (model '{Model}': {spec.Experts} experts, top-{spec.TopK}, hidden {h})");
        await console.Out.WriteLineAsync(CliOutput.Table(["path", "step p50 ms", "step p99 ms", "layer p50 ms", "echo/layer ms (orleans)", "echo/layer ms (grpc)", "copies/layer", "alloc/layer KiB (this process)", "max rel error"], rows));
        if (gateway is not null)
        {
            await console.Out.WriteLineAsync($"gateway added latency (same request, same homes, split by the client itself): p50 {CliOutput.Num(gateway.AddedP50Ms, 3)} ms, p99 {CliOutput.Num(gateway.AddedP99Ms, 3)} ms (gateway p50 {CliOutput.Num(gateway.GatewayP50Ms, 3)} ms, client split p50 {CliOutput.Num(gateway.DirectP50Ms, 3)} ms)");
        }

        if (gatewayRequestHomes is { } g)
        {
            await console.Out.WriteLineAsync($"the same with each request homed whole (--homes request): added p50 {CliOutput.Num(g.AddedP50Ms, 3)} ms, p99 {CliOutput.Num(g.AddedP99Ms, 3)} ms (gateway p50 {CliOutput.Num(g.GatewayP50Ms, 3)} ms, client p50 {CliOutput.Num(g.DirectP50Ms, 3)} ms)");
        }

        return Moectl.Ok;
    }

    /// <summary>The same steps on a fresh cluster of <paramref name="mode"/> whose silos cut each step into <paramref name="microBatches"/> micro-batches.</summary>
    private static async Task<DatapathOverlap> MeasureOverlap(string mode, int pods, Dictionary<string, string> models, WirePlan document, ServingPlan plan, int topK, float[][] inputs, float[][] expected, int tokens, int h, int layers, int steps, int microBatches, TimeSpan warmup, CancellationToken ct)
    {
        await using var cluster = await LocalClusters.Start(mode, pods, models, rehomeProfiles: null, ct, quiet: true, microBatches: microBatches);
        await cluster.Publish(document);
        using var clients = new RunnerClients(cluster);
        return new DatapathOverlap(mode, microBatches, await MeasureMode(cluster, clients.Runners, plan, topK, inputs, expected, tokens, h, layers, steps, warmup, ct));
    }

    /// <summary>A gRPC channel to each pod's runner of a cluster, in pod order, and a client on each; disposing closes the channels.</summary>
    private sealed class RunnerClients : IDisposable
    {
        private readonly GrpcChannel[] _channels;

        public RunnerClients(ILocalCluster cluster)
        {
            _channels = cluster.Endpoints.OrderBy(e => e.Pod).Select(e => GrpcChannel.ForAddress(e.Runner)).ToArray();
            Runners = _channels.Select(c => new MoeService.MoeServiceClient(c)).ToArray();
        }

        public MoeService.MoeServiceClient[] Runners { get; }

        public void Dispose()
        {
            foreach (var c in _channels)
            {
                c.Dispose();
            }
        }
    }

    private static async Task<int> RunScale(int[] podCounts, int tokens, int steps, int seed, TimeSpan warmup, bool json, CliConsole console, CancellationToken ct)
    {
        var log = console.Error;
        var v3Dir = await EnsureDeepSeekV3Shape(seed, log, ct);
        var demoDir = await DemoDeployment.EnsureModel("small", seed, log, ct);
        var v3Trace = await DemoDeployment.Record(v3Dir, tokens: 1024, sequences: 16, seed, ct);
        var demoTrace = await DemoDeployment.Record(demoDir, tokens: 1024, sequences: 16, seed, ct);
        var rows = new List<DatapathScale>();
        foreach (var pods in podCounts)
        {
            var demoPlan = await DemoDeployment.Solve(demoTrace, pods, redundant: pods, "eplb", timeLimitSeconds: 10, log, ct);
            var demoLayer = await ScaleRun(demoDir, Model, demoPlan, pods, tokens, steps, warmup, measureMemory: false, log, ct);
            var v3Plan = await DemoDeployment.Solve(v3Trace, pods, redundant: pods, "eplb", timeLimitSeconds: 10, log, ct);
            var v3 = await ScaleRun(v3Dir, "deepseek-v3-shape", v3Plan, pods, tokens, steps, warmup, measureMemory: true, log, ct);
            rows.Add(v3 with { DemoLayerP50Ms = demoLayer.LayerP50Ms });
            await log.WriteLineAsync($"deepseek-v3 shape on {pods} pods: layer {v3.LayerP50Ms:F3} ms (demo {demoLayer.LayerP50Ms:F3} ms), rollout {v3.RolloutSeconds:F1} s, 10% switch {v3.SwitchSeconds:F1} s, {v3.SiloOverheadMiB:F0} MiB and {v3.ActivationsPerSilo:F0} activations per silo");
        }

        if (json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { tokens, scale = rows });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync($"DeepSeek-V3 shape (58 MoE layers × 256 experts, top-8, 1 shared expert, hidden 64, BF16), {tokens}-token steps straight to a pod, embedded pods");
        await console.Out.WriteLineAsync(CliOutput.Table(
            ["pods", "layer p50 ms", "demo layer p50 ms", "ratio", "rollout s", "10% switch s", "moves", "overhead MiB/silo", "activations/silo", "max"],
            rows.Select(r => (IReadOnlyList<string>)[r.Pods.ToString(CultureInfo.InvariantCulture), CliOutput.Num(r.LayerP50Ms, 3), CliOutput.Num(r.DemoLayerP50Ms, 3), CliOutput.Num(r.LayerP50Ms / r.DemoLayerP50Ms, 2), CliOutput.Num(r.RolloutSeconds, 1), CliOutput.Num(r.SwitchSeconds, 1), r.SwitchMoves.ToString(CultureInfo.InvariantCulture), CliOutput.Num(r.SiloOverheadMiB, 0), CliOutput.Num(r.ActivationsPerSilo, 0), r.ActivationsMax.ToString(CultureInfo.InvariantCulture)])));
        return Moectl.Ok;
    }

    private static async Task<DatapathScale> ScaleRun(string modelDir, string model, PlacementPlan plan, int pods, int tokens, int steps, TimeSpan warmup, bool measureMemory, TextWriter log, CancellationToken ct)
    {
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var spec = checkpoint.Spec;
        int h = spec.Hidden, layers = spec.MoeLayers;
        var before = measureMemory ? SettledWorkingSet() : 0;
        await using var cluster = await EmbeddedCluster.Start(pods, new Dictionary<string, string> { [model] = modelDir }, EmbeddedCluster.QuietLogging, cancellationToken: ct);
        var v1 = WirePlan.From(model, plan, version: 1);
        var started = Stopwatch.GetTimestamp();
        await cluster.Publish(v1);
        var rollout = Stopwatch.GetElapsedTime(started).TotalSeconds;

        var channels = cluster.Silos.Select(s => GrpcChannel.ForAddress(s.RunnerAddress)).ToArray();
        try
        {
            var runners = channels.Select(c => new MoeService.MoeServiceClient(c)).ToArray();
            var inputs = Enumerable.Range(0, 8).Select(i => RuntimeCommands.RandomHidden(tokens, h, 500 + i)).ToArray();
            ForwardRequest Request(int i) => new() { Model = model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(inputs[i % inputs.Length], tokens, h) };
            for (var i = 0; i < 2 * pods; i++)
            {
                await runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct);
            }

            await SteadyWarmup.WarmUp(warmup, i => runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct).ResponseAsync, SiloScrape.JitProbe(null, ct));
            var times = await Time(steps, i => runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct).ResponseAsync);
            var layer = Percentile(times, 0.5) / layers;
            if (!measureMemory)
            {
                return new DatapathScale(pods, layers, spec.Experts, layer, 0, rollout, 0, 0, 0, 0, 0);
            }

            // A switch that moves every tenth replica to the next pod that does not hold its expert yet.
            var current = ServingPlan.From(v1);
            var index = 0;
            var moves = 0;
            var v2 = WirePlan.FromAssignment(model, 2, pods, layers, spec.Experts, (l, e) =>
            {
                var held = current.PodsOf(l, e).ToArray();
                var next = new List<int>(held.Length);
                foreach (var p in held)
                {
                    var to = Enumerable.Range(1, pods - 1).Select(d => (p + d) % pods).FirstOrDefault(q => !held.Contains(q) && !next.Contains(q), -1);
                    if (index++ % 10 == 0 && to >= 0)
                    {
                        next.Add(to);
                        moves++;
                    }
                    else
                    {
                        next.Add(p);
                    }
                }

                return next;
            });
            started = Stopwatch.GetTimestamp();
            await cluster.Publish(v2);
            var switchSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

            var after = SettledWorkingSet();
            var replicas = ServingPlan.From(v2).Replicas().Count();
            long expertBytes = 3L * h * spec.ExpertIntermediate * spec.DType.SizeOf();
            long denseBytes = layers * ((h * 4L) + (spec.Experts * h * 4L) + (3L * h * spec.SharedIntermediate * spec.DType.SizeOf()));
            var overhead = (after - before - (replicas * expertBytes) - (pods * denseBytes)) / (double)pods / (1 << 20);
            var management = cluster.Grains.GetGrain<IManagementGrain>(0);
            var hosts = (await management.GetHosts(onlyActive: true)).Keys.ToArray();
            var stats = await management.GetRuntimeStatistics(hosts);
            return new DatapathScale(pods, layers, spec.Experts, layer, 0, rollout, switchSeconds, moves, overhead, stats.Average(s => s.ActivationCount), stats.Max(s => s.ActivationCount));
        }
        finally
        {
            foreach (var c in channels)
            {
                c.Dispose();
            }
        }
    }

    private static long SettledWorkingSet()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Environment.WorkingSet;
    }

    private static async Task<string> EnsureDeepSeekV3Shape(int seed, TextWriter log, CancellationToken ct)
    {
        var dir = Path.Combine(DemoDeployment.Home, "models", $"deepseek-v3-shape-h64-seed{seed}");
        if (File.Exists(Path.Combine(dir, ModelCheckpoint.ConfigFile)))
        {
            return dir;
        }

        var (small, _) = SyntheticModelPresets.Get("small");
        var spec = SyntheticModelPresets.Adapt(small with
        {
            Layers = 59,
            MoeLayerIndices = ModelSpec.ContiguousMoeLayers(1, 59),
            Experts = 256,
            TopK = 8,
            Hidden = 64,
            ExpertIntermediate = 32,
            SharedExperts = 1,
            SharedIntermediate = 32,
            DType = WeightDType.BF16,
        }, ModelFamily.DeepseekV3).Validate();
        await log.WriteLineAsync($"creating the DeepSeek-V3-shaped model in {dir}");
        await Task.Run(() => SyntheticModelWriter.Write(dir + ".tmp", spec, 1024, new SyntheticModelOptions { Seed = seed }), ct);
        Directory.Move(dir + ".tmp", dir);
        return dir;
    }

    private static async Task<DatapathMode> MeasureMode(ILocalCluster cluster, MoeService.MoeServiceClient[] runners, ServingPlan plan, int topK, float[][] inputs, float[][] expected, int tokens, int h, int layers, int steps, TimeSpan warmup, CancellationToken ct)
    {
        var pods = runners.Length;
        ForwardRequest Request(int i) => new() { Model = Model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(inputs[i % inputs.Length], tokens, h) };

        // Warm every pod (replicas, JIT, connections), and check the results.
        var maxError = 0.0;
        for (var i = 0; i < 4 * pods; i++)
        {
            var response = await runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct);
            maxError = Math.Max(maxError, ResultError.MaxRelative(expected[i % inputs.Length], TensorCodec.ReadMatrix(response.Hidden).Values));
        }

        // Then the same steps untimed for the warm-up, so the echoes and the timed steps below run on optimised code.
        var warmed = await SteadyWarmup.WarmUp(warmup, i => runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct).ResponseAsync, SiloScrape.JitProbe(cluster, ct));

        // The bytes one layer sends from pod 0 to each remote pod: the distinct tokens whose experts it holds not.
        var first = await runners[0].ForwardAsync(Request(0), cancellationToken: ct);
        var ids = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(first.ExpertIds.Span).ToArray();
        var bytes = new long[pods];
        for (var l = 0; l < layers; l++)
        {
            for (var t = 0; t < tokens; t++)
            {
                var to = new HashSet<int>();
                for (var s = 0; s < topK; s++)
                {
                    var e = ids[((t * layers) + l) * topK + s];
                    if (!plan.Holds(0, l, e))
                    {
                        to.Add(plan.PodsOf(l, e)[0]);
                    }
                }

                foreach (var p in to)
                {
                    bytes[p] += h * sizeof(float);
                }
            }
        }

        var remotePods = Enumerable.Range(1, pods - 1).ToArray();
        var layerBytes = remotePods.Select(p => (int)(bytes[p] / layers / sizeof(float)) * sizeof(float)).ToArray();
        var echo = await cluster.Grains.GetGrain<IPodExpertsGrain>("0").MeasureEcho(remotePods, layerBytes, steps);
        var grpcEcho = await Time(steps, _ => Task.WhenAll(remotePods.Select((p, i) => runners[p].EchoAsync(new Tensor { Shape = { layerBytes[i] / sizeof(float) / h, h }, Data = Google.Protobuf.ByteString.CopyFrom(new byte[layerBytes[i]]) }, cancellationToken: ct).ResponseAsync)));

        var copiesBefore = await ScrapeCopies(cluster, ct);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var stepTimes = await Time(steps, i => runners[i % pods].ForwardAsync(Request(i), cancellationToken: ct).ResponseAsync);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var copies = (await ScrapeCopies(cluster, ct)) - copiesBefore;
        var p50 = Percentile(stepTimes, 0.5);
        return new DatapathMode(p50, Percentile(stepTimes, 0.99), p50 / layers, Percentile(echo, 0.5), Percentile(grpcEcho, 0.5), copies / (double)(steps * layers), maxError, allocated / (double)(steps * layers), warmed.TotalSeconds);
    }

    private static async Task<DatapathGateway> MeasureGateway(MoeService.MoeServiceClient gateway, string apiKey, MoeService.MoeServiceClient[] runners, float[][] inputs, int tokens, int h, int layers, int steps, TimeSpan warmup, CancellationToken ct)
    {
        var headers = new Metadata { { "x-api-key", apiKey } };
        var added = new List<double>();
        var gatewayMs = new List<double>();
        var directMs = new List<double>();
        // The gateway's code warms on its own requests first; then the first 20 pairs are untimed too.
        await SteadyWarmup.WarmUp(warmup, i => gateway.ForwardAsync(new ForwardRequest { Model = Model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(inputs[i % inputs.Length], tokens, h), SequenceId = $"w{i}" }, headers, cancellationToken: ct).ResponseAsync, SiloScrape.JitProbe(null, ct));
        for (var i = 0; i < steps + 20; i++)
        {
            var x = inputs[i % inputs.Length];
            var request = new ForwardRequest { Model = Model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(x, tokens, h), SequenceId = $"s{i}" };
            var started = Stopwatch.GetTimestamp();
            var viaGateway = await gateway.ForwardAsync(request, headers, cancellationToken: ct);
            var g = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

            // The client's own split: the same tokens to the same homes, at once, then reassembled in order.
            var homes = viaGateway.HomePods.ToArray();
            started = Stopwatch.GetTimestamp();
            var parts = homes.Distinct().Select(async pod =>
            {
                var mine = Enumerable.Range(0, tokens).Where(t => homes[t] == pod).ToArray();
                var sub = new float[mine.Length * h];
                for (var j = 0; j < mine.Length; j++)
                {
                    x.AsSpan(mine[j] * h, h).CopyTo(sub.AsSpan(j * h, h));
                }

                var response = await runners[pod].ForwardAsync(new ForwardRequest { Model = Model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(sub, mine.Length, h) }, cancellationToken: ct);
                return (mine, TensorCodec.ReadMatrix(response.Hidden).Values);
            }).ToArray();
            var output = new float[tokens * h];
            foreach (var (mine, values) in await Task.WhenAll(parts))
            {
                for (var j = 0; j < mine.Length; j++)
                {
                    values.AsSpan(j * h, h).CopyTo(output.AsSpan(mine[j] * h, h));
                }
            }

            var d = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (i >= 20)
            {
                gatewayMs.Add(g);
                directMs.Add(d);
                added.Add(g - d);
            }
        }

        return new DatapathGateway(Percentile(added, 0.5), Percentile(added, 0.99), Percentile(gatewayMs, 0.5), Percentile(directMs, 0.5));
    }

    private static Task<double> ScrapeCopies(ILocalCluster cluster, CancellationToken ct) => SiloScrape.Sum(cluster.Endpoints, "moecloud_silo_activation_row_copies_total", ct);

    private static async Task<double[]> Time(int steps, Func<int, Task> step)
    {
        var times = new double[steps];
        for (var i = 0; i < steps; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await step(i);
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        return times;
    }

    private static double Percentile(IEnumerable<double> values, double q) => CliOutput.Percentile(values, q);
}
