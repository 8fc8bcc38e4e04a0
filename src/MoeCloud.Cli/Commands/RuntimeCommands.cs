using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Client;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Security;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Kernels;
using MoeCloud.Placement.Profiles;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Serving;
using Microsoft.Extensions.DependencyInjection;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl up</c> (the local cluster), <c>moectl silo</c> (one pod process) and <c>moectl forward</c> (a runner client).</summary>
public static class RuntimeCommands
{
    /// <summary>The demo model's name in the local cluster.</summary>
    public const string DemoModel = "demo";

    /// <summary>Registers the commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "up",
            "Start the local cluster (N silos serving a generated demo model with a solved plan) and serve until Ctrl-C.",
            "",
            [
                new("silos", "<N> silos (pods), default 4"),
                new("processes", "one process per silo with Redis membership (default: all silos embedded in this process)", IsFlag: true),
                new("preset", "<name> demo model preset: tiny, small (default small)"),
                new("solver", "<name> placement solver: contiguous, eplb, ilp (default ilp)"),
                new("seed", "<N> model seed (default 1)"),
                new("smoke", "start, send one request to every pod, print the result and stop (for scripts and tests)", IsFlag: true),
                new("rehome", "silos re-home tokens between layers (speculative token shuffling) with the demo trace's statistics", IsFlag: true),
                new("homes", $"<token|request|auto> {HomesArg.Help} (default auto)"),
                new("cpus", "<float> with --processes: a fixed CPU quota per silo process (cgroup cpu.cfs_quota_us or cpu.max), so more pods mean more capacity; in [0.01, 1024]"),
                new("autoscale", "with --processes: scale plan pods on the gateway's serving signals while serving, printing each decision (options below)", IsFlag: true),
                new("dashboard", "every silo serves the Orleans Dashboard on its ops port (/dashboard/), opened by the printed admin key", IsFlag: true),
                new("micro-batches", "<N> two-batch overlap: every silo cuts a step of 2 × 8 tokens or more into N micro-batches (1 to 4) that run through the layers at once (default 1, off)"),
                new("warmup", "<seconds> before printing its addresses, send untimed 16-token requests through the gateway until the data path is steady, at most this long (default 20; 0 with --autoscale, whose first windows would read the warm-up as demand; 0 skips): fresh processes run their first requests on unoptimised code, several times slower"),
                .. AutoscaleArgs.Options,
            ],
            Up));
        app.Add(new CliCommand(
            "silo",
            "Run one silo (one pod) until SIGTERM or Ctrl-C; `moectl up --processes` starts these.",
            "",
            [
                new("pod", "<N> pod index (required)"),
                new("redis", "<host:port> Redis membership (default: localhost clustering)"),
                new("address", "<ip> the address this silo listens on and advertises (default 127.0.0.1; any other address listens on every interface)"),
                new("cluster-id", "<id> Orleans cluster id (default moecloud)"),
                new("silo-port", "<port> silo-to-silo port (default 11111)"),
                new("gateway-port", "<port> Orleans gateway port (default 30000)"),
                new("primary-port", "<port> localhost clustering: the primary silo's port (default 11111)"),
                new("runner-port", "<port> runner API (gRPC, HTTP/2) port (default 5100)"),
                new("ops-port", "<port> /healthz, /readyz, /metrics port (default 9100)"),
                new("model", "<name=dir> a model to serve (repeat as name=dir,name2=dir2)"),
                new("profile", "<name=dir> a model's profile trace, whose transition statistics drive re-homing (repeat as for --model)"),
                new("rehome", "re-home tokens between layers with the simulator's rule (needs --profile)", IsFlag: true),
                new("warmups-in-flight", "<N> replicas a rollout warms at once across the cluster (default 64; 1 when all silos share one machine)"),
                new("micro-batches", "<N> two-batch overlap: cut each step into N micro-batches (1 to 4) that run through the layers at once (default 1, off)"),
                new("micro-batch-min-tokens", "<N> the fewest tokens of a micro-batch: a smaller step is not cut (default 8)"),
                new("shutdown-timeout", "<seconds> how long a stop may take, Redis answering or not, before the process exits (default 20)"),
                new("parent-pid", "<pid> stop when this process is gone (`moectl up --processes` passes its own)"),
                new("dashboard", "serve the Orleans Dashboard on the ops port (/dashboard/), behind the admin keys of --admin-key-sha256", IsFlag: true),
                new("admin-key-sha256", "<hex[,hex]> the SHA-256 of each admin key that opens the dashboard (`printf %s \"$KEY\" | sha256sum`)"),
            ],
            Silo));
        app.Add(new CliCommand(
            "forward",
            "Send one request step with random hidden states to a runner endpoint and print how it was served.",
            "",
            [
                new("address", "<url> runner address, e.g. http://127.0.0.1:5100 (required)"),
                new("model", $"<name> model (default {DemoModel})"),
                new("tokens", "<N> tokens (default 16)"),
                new("first", "<L> first MoE layer (default 0)"),
                new("last", "<L> last MoE layer (default: the model's last)"),
                new("seed", "<N> seed of the random input (default 1)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Forward));
        app.Add(new CliCommand(
            "infer",
            "Send one request step through the gateway with the client library (API key, deadline, retries) and print how it was served.",
            "",
            [
                new("address", "<url> gateway gRPC address, e.g. http://127.0.0.1:5000 (required)"),
                new("api-key", "<key> API key (or MOECLOUD_API_KEY)"),
                new("model", $"<name> model (default {DemoModel})"),
                new("tokens", "<N> tokens (default 16)"),
                new("sequence", "<id> sequence id (decode steps of one sequence share it)"),
                new("repeat", "<N> send the step N times and print the first and the median of the rest (default 3)"),
                new("seed", "<N> seed of the random input (default 1)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Infer));
    }

    private static async Task<int> Infer(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var address = Uri.TryCreate(args.Require("address"), UriKind.Absolute, out var uri) ? uri : throw new UsageException("option '--address' needs an absolute URL such as http://127.0.0.1:5000");
        var model = args.Get("model") ?? DemoModel;
        using var client = new MoeCloudClient(address, new MoeCloudClientOptions { ApiKey = args.Get("api-key") ?? Environment.GetEnvironmentVariable("MOECLOUD_API_KEY") });
        var info = await client.GetModelAsync(model, ct);
        var tokens = args.GetInt("tokens", 16, 1, 65536);
        var repeat = args.GetInt("repeat", 3, 1, 10_000);
        var hidden = RandomHidden(tokens, info.Hidden, args.GetInt("seed", 1));

        // The first step pays this process's start (JIT, connection); the ones after it show the serving latency.
        var times = new double[repeat];
        StepOutput? reply = null;
        for (var i = 0; i < repeat; i++)
        {
            var started = Stopwatch.GetTimestamp();
            reply = await client.ForwardAsync(model, hidden, tokens, info.Hidden, 0, info.MoeLayers - 1, args.Get("sequence"), ct);
            times[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        var first = times[0];
        var warm = repeat > 1 ? CliOutput.Percentile(times.Skip(1), 0.5) : first;
        var homes = HomesText(reply!.HomePods);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { model, tokens, localDispatches = reply.LocalDispatches, remoteDispatches = reply.RemoteDispatches, remoteFraction = reply.RemoteFraction, planVersion = reply.PlanVersion, homePods = reply.HomePods, milliseconds = warm, firstMilliseconds = first, steps = repeat });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["model", "tokens", "local", "remote", "remote fraction", "homes", "plan", "first ms", repeat > 1 ? $"ms (median of {repeat - 1} more)" : "ms"],
            [[model, tokens.ToString(), reply.LocalDispatches.ToString(), reply.RemoteDispatches.ToString(), CliOutput.Num(reply.RemoteFraction), homes, reply.PlanVersion.ToString(), CliOutput.Num(first, 1), CliOutput.Num(warm, 1)]]));
        return Moectl.Ok;
    }

    private static async Task<int> Up(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var silos = args.GetInt("silos", 4, 1, 64);
        var preset = args.GetChoice("preset", "small", "tiny", "small");
        var solver = args.GetChoice("solver", "ilp", "contiguous", "eplb", "ilp");
        var microBatches = args.GetInt("micro-batches", 1, 1, 4);
        var homes = HomesArg.Parse(args, args.Has("rehome") ? "token" : "auto");
        if (homes != HomeGranularity.Token && args.Has("rehome"))
        {
            throw new UsageException($"option '--rehome' needs --homes token (got {HomesArg.Name(homes)}): re-homing moves single tokens between layers");
        }

        double? cpus = args.Get("cpus") is null ? null : args.GetDouble("cpus", 1, 0.01, 1024);
        if (cpus is not null && !args.Has("processes"))
        {
            throw new UsageException("option '--cpus' needs --processes: embedded silos share this process");
        }

        if (args.Has("autoscale") && !args.Has("processes"))
        {
            throw new UsageException("option '--autoscale' needs --processes: scaling starts and stops silo processes, and embedded silos share this process");
        }

        if (!args.Has("autoscale") && AutoscaleArgs.Names.FirstOrDefault(args.Has) is { } stray)
        {
            throw new UsageException($"option '--{stray}' needs --autoscale");
        }

        var autoscale = args.Has("autoscale") ? AutoscaleArgs.Parse(args, silos, AutoscaleWindow) : null;
        var warmup = TimeSpan.FromSeconds(args.GetDouble("warmup", autoscale is null ? 20 : 0, 0, 600));

        // One admin key opens the gateway's admin API and, with --dashboard, every silo's dashboard.
        var adminKey = ApiKeys.NewKey();
        IReadOnlyList<string>? dashboardKeys = args.Has("dashboard") ? [ApiKeys.Hash(adminKey)] : null;

        var deployment = await DemoDeployment.Prepare(DemoModel, preset, args.GetInt("seed", 1), silos, solver, console.Error, ct);
        var models = new Dictionary<string, string> { [DemoModel] = deployment.ModelDirectory };
        await console.Error.WriteLineAsync($"starting {silos} silos ({(args.Has("processes") ? "one process each, Redis membership" : "embedded in this process")})");
        await console.Error.WriteLineAsync($"expert kernels: {new CpuExpertKernel().Description}");
        var rehome = args.Has("rehome") ? new Dictionary<string, string> { [DemoModel] = LocalClusters.SaveProfile(DemoModel, deployment.Trace) } : null;
        await using var cluster = await LocalClusters.Start(args.Has("processes") ? "processes" : "embedded", silos, models, rehome, ct, cpus: cpus, dashboardKeySha256: dashboardKeys, microBatches: microBatches);
        if (cluster is ProcessCluster { CpuQuota: { } quota })
        {
            await console.Error.WriteLineAsync(quota);
        }

        var plan = WirePlan.From(DemoModel, deployment.Plan, version: 1);
        var status = await CliProgress.RunAsync(console, $"rolling out plan {plan.Version} ({solver}): warming {plan.PodIds.Length} expert replicas on {silos} pods",
            progress => PlanRollout.Run(cluster, plan, progress, console.ErrorIsTerminal, ct));
        await console.Error.WriteLineAsync($"plan {status.ActiveVersion} ({solver}) active on every pod; starting the gateway");
        await using var gateway = await LocalGateway.Start(cluster, DemoModel, deployment.ModelDirectory, deployment.Trace, HomePolicyName.Speculative, ct, homes, servingWindow: autoscale is null ? null : AutoscaleWindow, adminKey: adminKey);

        if (warmup > TimeSpan.Zero)
        {
            await WarmUp(gateway, cluster, warmup, console, ct);
        }

        var spec = deployment.Trace;
        var rows = new List<IReadOnlyList<string>>();
        const int smokeTokens = 16;
        foreach (var endpoint in cluster.Endpoints)
        {
            var reply = await Send(endpoint.Runner, DemoModel, smokeTokens, 0, deployment.Trace.Layers - 1, seed: endpoint.Pod, ct);
            rows.Add([$"pod-{endpoint.Pod}", endpoint.Runner.ToString(), new Uri(endpoint.Ops, "/metrics").ToString(), HomesText(Enumerable.Repeat(endpoint.Pod, smokeTokens)), reply.Response.LocalDispatches.ToString(), reply.Response.RemoteDispatches.ToString(), CliOutput.Num(reply.Milliseconds, 1)]);
        }

        using (var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey }))
        {
            var info = await client.GetModelAsync(DemoModel, ct);
            var started = Stopwatch.GetTimestamp();
            var reply = await client.ForwardAsync(DemoModel, RandomHidden(smokeTokens, info.Hidden, 99), smokeTokens, info.Hidden, 0, info.MoeLayers - 1, "smoke", ct);
            rows.Add(["gateway", gateway.GrpcAddress.ToString(), new Uri(gateway.HttpAddress, "/metrics").ToString(), HomesText(reply.HomePods), reply.LocalDispatches.ToString(), reply.RemoteDispatches.ToString(), CliOutput.Num(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1)]);
        }

        await console.Out.WriteLineAsync(CliOutput.Table(["pod", "address (gRPC)", "metrics", "homes", "local", "remote", "ms"], rows));
        await console.Out.WriteLineAsync();
        await console.Out.WriteLineAsync($"serving model '{DemoModel}' ({spec.Layers} MoE layers × {spec.Experts} experts, top-{spec.TopK}) on {silos} pods with the {solver} plan, through the gateway at {gateway.GrpcAddress} (gRPC) and {gateway.HttpAddress} (JSON).");
        await console.Out.WriteLineAsync($"try: dotnet run --project src/MoeCloud.Cli -c Release -- infer --address {gateway.GrpcAddress} --api-key {gateway.ApiKey} --tokens 16");
        await console.Out.WriteLineAsync($"admin: curl -s -H 'x-api-key: {gateway.AdminKey}' {gateway.HttpAddress}admin/v1/cluster");
        if (dashboardKeys is not null)
        {
            var pods = cluster.Endpoints;
            await console.Out.WriteLineAsync($"dashboard: {new Uri(pods[0].Ops, OpsDashboard.Path + "/")} (every pod's ops port serves one; the admin key above is the password, any user name)");
        }
        await using var autoscaler = autoscale is null ? null : await StartAutoscaler((ProcessCluster)cluster, deployment, gateway, autoscale, console, ct);
        if (args.Has("smoke"))
        {
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync("Ctrl-C to stop.");
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
            await console.Error.WriteLineAsync("stopping");
        }

        return Moectl.Ok;
    }

    /// <summary>
    /// Untimed 16-token requests through <paramref name="gateway"/>, one after another, until the data path is steady
    /// (<see cref="SteadyWarmup.WarmUp"/>: its medians level off and the JIT of this process and the silo processes is
    /// quiet) or <paramref name="limit"/> has passed; prints what it did.
    /// </summary>
    private static async Task WarmUp(LocalGateway gateway, ILocalCluster cluster, TimeSpan limit, CliConsole console, CancellationToken ct)
    {
        await console.Error.WriteLineAsync($"warming the data path with requests through the gateway (at most {limit.TotalSeconds:0.#} s; --warmup 0 skips)");
        using var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey });
        var info = await client.GetModelAsync(DemoModel, ct);
        var inputs = Enumerable.Range(0, 8).Select(i => RandomHidden(16, info.Hidden, 1000 + i)).ToArray();
        var requests = 0;
        var took = await SteadyWarmup.WarmUp(limit, async i =>
        {
            await client.ForwardAsync(DemoModel, inputs[i % inputs.Length], 16, info.Hidden, 0, info.MoeLayers - 1, cancellationToken: ct);
            requests++;
        }, SiloScrape.JitProbe(cluster, ct));
        await console.Error.WriteLineAsync($"warmed: {requests} requests in {took.TotalSeconds:F1} s");
    }

    /// <summary>The gateway's serving window with autoscaling on, and the time the autoscaler waits after a change.</summary>
    private static readonly TimeSpan AutoscaleWindow = TimeSpan.FromSeconds(10);

    private static async Task<LocalAutoscaler> StartAutoscaler(ProcessCluster cluster, Deployment deployment, LocalGateway gateway, LocalAutoscalerOptions options, CliConsole console, CancellationToken ct)
    {
        var scaler = new LocalScaler(cluster, DemoModel, WorkloadProfile.FromTrace(deployment.Trace), new LocalScalerOptions { ServeTimeout = TimeSpan.FromSeconds(10) });
        if (options.Standby > 0)
        {
            await console.Error.WriteLineAsync($"starting {options.Standby} standby silo(s)");
            await scaler.SetStandbyAsync(options.Standby, ct);
        }

        var targets = options.Pods;
        var error = TextWriter.Synchronized(console.Error);
        var autoscaler = new LocalAutoscaler(scaler, new GatewayAutoscaleSignals(gateway, cluster.Grains, DemoModel), options, onChange: c => error.WriteLine(c.ToString()));
        autoscaler.Start();
        await console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"autoscaling plan pods in {targets.MinPods}..{targets.MaxPods} (p99 target {(targets.TargetP99Ms is { } p ? $"{p} ms" : "none")}, queue-depth target {(targets.TargetQueueDepth is { } q ? $"{q} per pod" : "none")}, {options.Standby} standby, scale-down window {targets.ScaleDownWindow.TotalSeconds} s, expert replicas {(options.Experts is null ? "fixed" : "autoscaled")}); each decision is printed on stderr"));
        return autoscaler;
    }

    private static void NamedDirectories(CliArgs args, string option, Dictionary<string, string> into)
    {
        foreach (var pair in (args.Get(option) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || eq == pair.Length - 1)
            {
                throw new UsageException($"option '--{option}' takes name=dir, got '{pair}'");
            }

            into[pair[..eq]] = pair[(eq + 1)..];
        }
    }

    private static async Task<int> Silo(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var options = new MoeCloudSiloOptions
        {
            PodIndex = args.GetInt("pod", -1, 0, 4095) is var pod and >= 0 ? pod : throw new UsageException("option '--pod' is required"),
            ClusterId = args.Get("cluster-id") ?? "moecloud",
            SiloPort = args.GetInt("silo-port", 11111, 1, 65535),
            GatewayPort = args.GetInt("gateway-port", 30000, 1, 65535),
            PrimarySiloPort = args.GetInt("primary-port", 11111, 1, 65535),
            RunnerPort = args.GetInt("runner-port", 5100, 1, 65535),
            OpsPort = args.GetInt("ops-port", 9100, 1, 65535),
            WarmupsInFlight = args.GetInt("warmups-in-flight", 64, 1, 4096),
            MicroBatches = args.GetInt("micro-batches", 1, 1, 4),
            MicroBatchMinTokens = args.GetInt("micro-batch-min-tokens", 8, 1, 1 << 20),
            AdvertisedAddress = args.Get("address") is { } address
                ? System.Net.IPAddress.TryParse(address, out _) ? address : throw new UsageException($"option '--address' takes an IP address, got '{address}'")
                : "127.0.0.1",
        };
        if (args.Get("redis") is { } redis)
        {
            options.Clustering = ClusteringMode.Redis;
            options.RedisConnectionString = redis;
        }

        NamedDirectories(args, "model", options.Models);
        NamedDirectories(args, "profile", options.ProfileTraces);
        options.Rehome = args.Has("rehome");
        if (options.Rehome && options.ProfileTraces.Count == 0)
        {
            throw new UsageException("option '--rehome' needs the models' profile traces (--profile name=dir)");
        }

        options.Dashboard = args.Has("dashboard");
        options.AdminKeySha256 = AdminKeyHashes(args, options.Dashboard);
        options.ShutdownTimeout = TimeSpan.FromSeconds(args.GetInt("shutdown-timeout", (int)options.ShutdownTimeout.TotalSeconds, 1, 600));
        var parent = args.Get("parent-pid") is null ? (int?)null : args.GetInt("parent-pid", 0, 1);
        if (parent is { } pid && !IsRunning(pid))
        {
            throw new UsageException($"option '--parent-pid': no process {pid} is running");
        }

        await using var app = MoeCloudSiloHost.Create(options);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, app.Lifetime.ApplicationStopping);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        var watch = parent is { } watched ? WatchParent(watched, options.SiloName, console.Error, stop) : Task.CompletedTask;
        await app.StartAsync(stop.Token);
        await console.Error.WriteLineAsync($"pod-{options.PodIndex} serving: runner http://127.0.0.1:{options.RunnerPort}, ops http://127.0.0.1:{options.OpsPort}; expert kernels: {app.Services.GetRequiredService<ModelCatalog>().KernelDescription}");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
            // SIGTERM, Ctrl-C or the parent gone: stop within the shutdown timeout.
        }

        await watch;
        if (!await SiloShutdown.Stop(app))
        {
            // The host is still stopping (a membership store that does not answer, a hung grain); disposing it would
            // wait for it. The reason is logged.
            Environment.Exit(Moectl.Failed);
        }

        return Moectl.Ok;
    }

    private static List<string> AdminKeyHashes(CliArgs args, bool dashboard)
    {
        var text = args.Get("admin-key-sha256");
        if (text is null)
        {
            return dashboard ? throw new UsageException("option '--dashboard' needs --admin-key-sha256 <hex>: the dashboard is never served without an admin key") : [];
        }

        if (!dashboard)
        {
            throw new UsageException("option '--admin-key-sha256' needs --dashboard: the keys open the dashboard only");
        }

        var hashes = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var bad = hashes.Length == 0 ? text : hashes.FirstOrDefault(h => !ApiKeys.IsHash(h));
        if (bad is not null)
        {
            throw new UsageException($"option '--admin-key-sha256' takes the 64-digit hex SHA-256 of each admin key, comma-separated, got '{bad}'");
        }

        return [.. hashes.Select(h => h.ToLowerInvariant())];
    }

    private static async Task WatchParent(int pid, string silo, TextWriter error, CancellationTokenSource stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop.Token))
            {
                if (!IsRunning(pid))
                {
                    await error.WriteLineAsync($"{silo}: parent process {pid} is gone; stopping");
                    await stop.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping for another reason.
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task<int> Forward(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var address = Uri.TryCreate(args.Require("address"), UriKind.Absolute, out var uri) ? uri : throw new UsageException("option '--address' needs an absolute URL such as http://127.0.0.1:5100");
        var model = args.Get("model") ?? DemoModel;
        using var channel = GrpcChannel.ForAddress(address);
        var client = new MoeService.MoeServiceClient(channel);
        var info = await client.GetModelAsync(new GetModelRequest { Model = model }, cancellationToken: ct);
        var tokens = args.GetInt("tokens", 16, 1, 65536);
        var first = args.GetInt("first", 0, 0, info.MoeLayers - 1);
        var last = args.GetInt("last", info.MoeLayers - 1, first, info.MoeLayers - 1);
        var reply = await Send(address, model, tokens, first, last, args.GetInt("seed", 1), ct, info.Hidden);
        var local = reply.Response.LocalDispatches;
        var remote = reply.Response.RemoteDispatches;
        var output = TensorCodec.ReadMatrix(reply.Response.Hidden).Values;
        var norm = Math.Sqrt(output.Sum(v => (double)v * v) / output.Length);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { model, tokens, firstLayer = first, lastLayer = last, localDispatches = local, remoteDispatches = remote, remoteFraction = (double)remote / Math.Max(1, local + remote), planVersion = reply.Response.PlanVersion, milliseconds = reply.Milliseconds, outputRms = norm });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["model", "tokens", "layers", "local", "remote", "remote fraction", "plan", "ms", "output rms"],
            [[model, tokens.ToString(), $"{first}..{last}", local.ToString(), remote.ToString(), CliOutput.Num((double)remote / Math.Max(1, local + remote)), reply.Response.PlanVersion.ToString(), CliOutput.Num(reply.Milliseconds, 1), CliOutput.Num(norm, 4)]]));
        return Moectl.Ok;
    }

    internal static float[] RandomHidden(int tokens, int hidden, int seed)
    {
        var rng = new Random(seed);
        var values = new float[tokens * hidden];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return values;
    }

    /// <summary>Tokens per home pod, as <c>pod-0:6 pod-1:4</c>.</summary>
    private static string HomesText(IEnumerable<int> homePods) =>
        string.Join(" ", homePods.GroupBy(p => p).OrderBy(g => g.Key).Select(g => $"pod-{g.Key}:{g.Count()}"));

    private static async Task<(ForwardResponse Response, double Milliseconds)> Send(Uri address, string model, int tokens, int first, int last, int seed, CancellationToken ct, int? hidden = null)
    {
        using var channel = GrpcChannel.ForAddress(address);
        var client = new MoeService.MoeServiceClient(channel);
        var size = hidden ?? (await client.GetModelAsync(new GetModelRequest { Model = model }, cancellationToken: ct)).Hidden;
        var values = RandomHidden(tokens, size, seed);
        var started = Stopwatch.GetTimestamp();
        var response = await client.ForwardAsync(new ForwardRequest { Model = model, FirstLayer = first, LastLayer = last, Hidden = TensorCodec.WriteMatrix(values, tokens, size) }, cancellationToken: ct);
        return (response, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }
}
