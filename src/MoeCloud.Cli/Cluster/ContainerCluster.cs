using System.Diagnostics;
using System.Globalization;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeCloud.Contracts.Security;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Runtime.Hosting;
using Orleans.Configuration;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// MoeCloud's real images (infra/images/build.sh) in podman: Redis, one silo container per pod and the gateway
/// container, each started from exactly the StatefulSet and Deployment the operator renders (<see cref="Workloads"/>,
/// resolved by <see cref="PodRun"/>), on a podman network this cluster creates and removes. With no API server here, one
/// setting differs from a pod: the silos use Redis clustering (identity from POD_NAME and POD_IP, as the silo host reads
/// them) instead of Orleans' Kubernetes hosting, which reads its pod from the API server. moectl reaches the containers
/// by their addresses on that network and talks to the cluster through an Orleans client, as for silo processes. Only
/// the containers and the network it started are removed, by id and name, on dispose. Each carries the owner label of
/// <see cref="ContainerOwner"/>, and a watchdog removes them when moectl is killed outright; the network's bridge keeps
/// one address while containers leave (<see cref="PodmanBridge"/>).
/// </summary>
public sealed class ContainerCluster : ILocalCluster
{
    /// <summary>The images' tag: the chart's appVersion, which infra/images/build.sh tags them with.</summary>
    public const string DefaultTag = "0.1.0";

    /// <summary>The MoeDeployment the pods are rendered for; also the Orleans cluster and service id.</summary>
    private const string DeploymentName = "chaos";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);

    private readonly string _network;
    private readonly string _redis;
    private readonly string?[] _silos;
    private readonly string[] _gateways;
    private readonly string _configDir;
    private readonly string _redisData;
    private readonly IHost _client;
    private readonly string _prefix;
    private readonly V1Container _siloContainer;
    private readonly V1Container _gatewayContainer;
    private readonly Process _watchdog;

    private ContainerCluster(string network, string prefix, string redis, string redisData, string?[] silos, string[] gateways, string configDir, IHost client, string apiKey, V1Container siloContainer, V1Container gatewayContainer, Process watchdog)
    {
        _watchdog = watchdog;
        _redisData = redisData;
        _siloContainer = siloContainer;
        _gatewayContainer = gatewayContainer;
        _network = network;
        _prefix = prefix;
        _redis = redis;
        _silos = silos;
        _gateways = gateways;
        _configDir = configDir;
        _client = client;
        ApiKey = apiKey;
    }

    /// <inheritdoc />
    public string Mode => "containers";

    /// <inheritdoc />
    public IReadOnlyList<SiloEndpoint> Endpoints => [.. Enumerable.Range(0, _silos.Length).Select(p => new SiloEndpoint(p, new Uri($"http://{SiloIp(_prefix, p)}:{Workloads.RunnerPort}"), new Uri($"http://{SiloIp(_prefix, p)}:{Workloads.OpsPort}")))];

    /// <inheritdoc />
    public IGrainFactory Grains => _client.Services.GetRequiredService<IClusterClient>();

    /// <summary>The (first) gateway container's gRPC address.</summary>
    public Uri GatewayGrpc => GatewayGrpcs[0];

    /// <summary>Every gateway container's gRPC address, in the order they were started.</summary>
    public IReadOnlyList<Uri> GatewayGrpcs => [.. Enumerable.Range(0, _gateways.Length).Select(g => new Uri($"http://{GatewayIp(_prefix, g)}:{Workloads.GatewayGrpcPort}"))];

    /// <summary>The client API key the gateway container accepts (only its hash is configured there).</summary>
    public string ApiKey { get; }

    /// <summary>The image references for <paramref name="tag"/>: silo, gateway, Redis.</summary>
    public static (string Silo, string Gateway, string Redis) Images(string tag) => ($"localhost/moecloud-silo:{tag}", $"localhost/moecloud-gateway:{tag}", $"localhost/moecloud-redis:{tag}");

    /// <summary>Why containers cannot run here (no podman, an image not built), with what to run; null when they can.</summary>
    public static async Task<string?> Unavailable(string tag, CancellationToken ct)
    {
        if ((await Podman.TryRun(["--version"], ct)).Code != 0)
        {
            return "podman is not installed (bash infra/lib/deps.sh installs podman, buildah, runc and mmdebstrap as root with apt-get; then run bash infra/images/build.sh)";
        }

        var (silo, gateway, redis) = Images(tag);
        var missing = new List<string>();
        foreach (var image in new[] { silo, gateway, redis })
        {
            if ((await Podman.TryRun(["image", "exists", image], ct)).Code != 0)
            {
                missing.Add(image);
            }
        }

        return missing.Count == 0 ? null : $"image {string.Join(", ", missing)} not built (run bash infra/images/build.sh)";
    }

    /// <summary>
    /// Starts Redis, <paramref name="silos"/> silo containers serving <paramref name="model"/> from
    /// <paramref name="modelDirectory"/> (bind-mounted read-only where the model's weights claim goes) and
    /// <paramref name="gateways"/> gateway containers (replicas of the gateway Deployment's pod), waits for their
    /// startup probes, then connects. Throws <see cref="InvalidOperationException"/> when podman or an image is
    /// missing, with what to run.
    /// </summary>
    public static async Task<ContainerCluster> Start(int silos, string model, string modelDirectory, TextWriter log, CancellationToken ct, string tag = DefaultTag, int gateways = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(silos, 200);
        ArgumentOutOfRangeException.ThrowIfLessThan(gateways, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gateways, 9);
        ArgumentNullException.ThrowIfNull(log);
        if (await Unavailable(tag, ct) is { } reason)
        {
            throw new InvalidOperationException($"containers cannot run here: {reason}");
        }

        var (siloImage, gatewayImage, redisImage) = Images(tag);
        var network = $"moecloud-{Guid.NewGuid().ToString("N")[..8]}";
        foreach (var left in await ContainerOwner.Sweep(ct))
        {
            await log.WriteLineAsync($"containers: removed {left}, left by a moectl that is gone");
        }

        var started = new Stack<string>();
        var configDir = Directory.CreateTempSubdirectory("moecloud-config-").FullName;
        var redisData = Path.Combine(configDir, "redis"); // beside the ConfigMap's files (the pods read those by name); removed with them
        var networkMade = false;
        Process? watchdog = null;
        try
        {
            await Podman.Run(["network", "create", "--label", OwnerLabel, network], ct);
            networkMade = true;
            watchdog = ContainerOwner.StartWatchdog(network);
            var prefix = await SubnetPrefix(network, ct);
            var redisIp = prefix + ".2";

            await log.WriteLineAsync($"containers: network {network} ({prefix}.0/24), Redis at {redisIp}");
            // Its data directory is a host folder, so that a SAVE outlives a killed container (RestartRedis).
            Directory.CreateDirectory(redisData);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(redisData, (UnixFileMode)0b111_111_111); // the image's redis user writes it
            }

            var redis = await Podman.Run(
                ["run", "--label", OwnerLabel, "--detach", "--name", network + "-redis", "--network", network, "--ip", redisIp, "--read-only", "--cap-drop", "ALL",
                 "--volume", $"{redisData}:/data:rw",
                 redisImage, "redis-server", "--port", "6379", "--dir", "/data", "--save", "", "--appendonly", "no", "--protected-mode", "no"], ct);
            started.Push(redis);
            if (await PodmanBridge.Pin(network, ct) is { } unpinned)
            {
                await log.WriteLineAsync($"containers: the bridge's address is not pinned ({unpinned}); when a container stops, replies to this host may be lost for seconds");
            }

            // What the operator renders for a deployment of this model, and what the kubelet would give its pods.
            var (deployment, moeModel) = Objects(model, silos);
            var options = new OperatorOptions { SiloImage = siloImage, GatewayImage = gatewayImage, MembershipRedis = $"{redisIp}:6379", SiloServiceAccount = "" };
            var apiKey = ApiKeys.NewKey();
            var adminKey = ApiKeys.NewKey();
            var keys = new Dictionary<string, string>
            {
                ["MoeCloud__Gateway__AdminKeys__0__Name"] = "moectl",
                ["MoeCloud__Gateway__AdminKeys__0__Sha256"] = ApiKeys.Hash(adminKey),
                ["MoeCloud__Gateway__ApiKeys__0__Name"] = "moectl",
                ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeys.Hash(apiKey),
                ["MoeCloud__Gateway__ApiKeys__0__RequestsPerSecond"] = "100000",
            };
            WriteConfig(configDir, Workloads.Config(deployment, moeModel));
            var secrets = new Dictionary<string, IReadOnlyDictionary<string, string>> { [Workloads.GatewayKeysName(deployment)] = keys };
            var volumes = new Dictionary<string, string> { ["config"] = configDir, ["weights"] = Path.GetFullPath(modelDirectory) };
            var none = new Dictionary<string, string>();

            var siloTemplate = Workloads.Silo(deployment, moeModel, silos, options).Spec.Template;
            var siloContainer = siloTemplate.Spec.Containers.Single();
            var siloIds = new string?[silos];
            for (var pod = 0; pod < silos; pod++)
            {
                var place = new PodPlace($"{Workloads.SiloName(deployment)}-{pod}", "default", SiloIp(prefix, pod), secrets, volumes, null, none);
                var run = PodRun.From(siloTemplate.Spec, siloContainer, place);
                // No API server for Orleans' Kubernetes hosting: Redis clustering, the same membership store.
                run = run with { Env = new Dictionary<string, string>(run.Env, StringComparer.Ordinal) { ["MoeCloud__Silo__Clustering"] = "Redis" } };
                siloIds[pod] = await Podman.Run(Owned(run.PodmanArguments($"{network}-silo-{pod}", network)), ct);
                started.Push(siloIds[pod]!);
            }

            var gatewayTemplate = Workloads.Gateway(deployment, moeModel, options).Spec.Template;
            var gatewayContainer = gatewayTemplate.Spec.Containers.Single();
            var gatewayIds = new string[gateways];
            for (var g = 0; g < gateways; g++)
            {
                var gatewayRun = PodRun.From(gatewayTemplate.Spec, gatewayContainer, new PodPlace($"{Workloads.GatewayName(deployment)}-{g}", "default", GatewayIp(prefix, g), secrets, volumes, null, none));
                gatewayIds[g] = await Podman.Run(Owned(gatewayRun.PodmanArguments(g == 0 ? $"{network}-gateway" : $"{network}-gateway-{g}", network)), ct);
                started.Push(gatewayIds[g]);
            }

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            for (var pod = 0; pod < silos; pod++)
            {
                await WaitProbe(http, siloContainer.StartupProbe, siloContainer, SiloIp(prefix, pod), siloIds[pod]!, ct);
            }

            for (var g = 0; g < gateways; g++)
            {
                await WaitProbe(http, gatewayContainer.StartupProbe, gatewayContainer, GatewayIp(prefix, g), gatewayIds[g], ct);
            }

            await log.WriteLineAsync($"containers: {silos} silos and {gateways} gateway(s) started");

            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.UseOrleansClient(c =>
            {
                c.UseRedisClustering($"{redisIp}:6379");
                c.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = DeploymentName;
                    o.ServiceId = DeploymentName;
                });
            });
            var client = builder.Build();
            await client.StartAsync(ct);
            return new ContainerCluster(network, prefix, redis, redisData, siloIds, gatewayIds, configDir, client, apiKey, siloContainer, gatewayContainer, watchdog);
        }
        catch
        {
            await Remove(started, networkMade ? network : null, configDir);
            Stop(watchdog);
            throw;
        }
    }

    /// <summary>The owner label's <c>key=value</c> (<see cref="ContainerOwner"/>).</summary>
    private static string OwnerLabel => $"{ContainerOwner.Label}={ContainerOwner.Current}";

    /// <summary><paramref name="run"/>'s arguments (<c>run …</c>) with the owner label.</summary>
    private static string[] Owned(IReadOnlyList<string> run) => [run[0], "--label", OwnerLabel, .. run.Skip(1)];

    /// <summary>Stops the watchdog by its pid (the cluster is removed, or never started).</summary>
    private static void Stop(Process? watchdog)
    {
        if (watchdog is null)
        {
            return;
        }

        try
        {
            watchdog.Kill();
        }
        catch (InvalidOperationException)
        {
            // It has exited.
        }

        watchdog.Dispose();
    }

    /// <summary>Waits until every silo container's and the gateway container's readiness probe passes (a plan is in effect everywhere).</summary>
    public async Task WaitReady(CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        for (var pod = 0; pod < _silos.Length; pod++)
        {
            await WaitProbe(http, _siloContainer.ReadinessProbe, _siloContainer, SiloIp(_prefix, pod), SiloOf(pod), ct);
        }

        for (var g = 0; g < _gateways.Length; g++)
        {
            await WaitProbe(http, _gatewayContainer.ReadinessProbe, _gatewayContainer, GatewayIp(_prefix, g), _gateways[g], ct);
        }
    }

    /// <summary>Sends SIGKILL to pod <paramref name="pod"/>'s silo container (<c>podman kill --signal KILL</c>).</summary>
    public Task Kill(int pod, CancellationToken ct) => Podman.Run(["kill", "--signal", "KILL", SiloOf(pod)], ct);

    /// <summary>Sends SIGTERM to pod <paramref name="pod"/>'s silo container, as the kubelet does when a pod is deleted; returns at once.</summary>
    public Task Terminate(int pod, CancellationToken ct) => Podman.Run(["kill", "--signal", "TERM", SiloOf(pod)], ct);

    /// <summary>Waits until pod <paramref name="pod"/>'s silo container has exited; its exit code.</summary>
    public async Task<int> WaitForExit(int pod, CancellationToken ct) =>
        int.Parse(await Podman.Run(["wait", SiloOf(pod)], ct), NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>The exit code of pod <paramref name="pod"/>'s silo container when it has exited; null while it runs.</summary>
    public async Task<int?> ExitCode(int pod, CancellationToken ct)
    {
        var state = (await Podman.Run(["container", "inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", SiloOf(pod)], ct)).Split(' ');
        return state[0] == "true" ? null : int.Parse(state[1], NumberStyles.Integer, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Starts pod <paramref name="pod"/>'s silo container again after it exited (<c>podman start</c>: the same
    /// container, address and settings, as a kubelet restarts a pod's container) and waits for its startup probe. It
    /// joins membership as a new silo generation.
    /// </summary>
    public async Task Restart(int pod, CancellationToken ct)
    {
        if (await ExitCode(pod, ct) is null)
        {
            throw new InvalidOperationException($"the silo container of pod {pod} is still running");
        }

        await Podman.Run(["start", SiloOf(pod)], ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await WaitProbe(http, _siloContainer.StartupProbe, _siloContainer, SiloIp(_prefix, pod), SiloOf(pod), ct);
    }

    /// <summary>
    /// Cuts pod <paramref name="pod"/>'s silo container off the cluster's network (<c>podman network disconnect</c>:
    /// its interface goes, nothing reaches it and it reaches neither the other pods nor Redis), or connects it again at
    /// its address (<c>podman network connect --ip</c>).
    /// </summary>
    public Task SetLink(int pod, bool up, CancellationToken ct) => up
        ? Podman.Run(["network", "connect", "--ip", SiloIp(_prefix, pod), _network, SiloOf(pod)], ct)
        : Podman.Run(["network", "disconnect", _network, SiloOf(pod)], ct);

    /// <summary>Kills gateway container <paramref name="gateway"/> (SIGKILL: its connections end, nothing drains).</summary>
    public async Task KillGateway(int gateway, CancellationToken ct)
    {
        await Podman.Run(["kill", "--signal", "KILL", GatewayOf(gateway)], ct);
        await Podman.Run(["wait", GatewayOf(gateway)], ct);
    }

    /// <summary>Starts gateway container <paramref name="gateway"/> again after it exited (same address and settings) and waits until it is ready.</summary>
    public async Task RestartGateway(int gateway, CancellationToken ct)
    {
        await Podman.Run(["start", GatewayOf(gateway)], ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await WaitProbe(http, _gatewayContainer.StartupProbe, _gatewayContainer, GatewayIp(_prefix, gateway), GatewayOf(gateway), ct);
        await WaitProbe(http, _gatewayContainer.ReadinessProbe, _gatewayContainer, GatewayIp(_prefix, gateway), GatewayOf(gateway), ct);
    }

    /// <summary>
    /// Crashes the Redis container and starts it again after <paramref name="down"/>: with <paramref name="keepData"/>
    /// its data is saved first (<c>SAVE</c>, as a store with persistence would keep it) and loaded again from its data
    /// folder; without, the folder is emptied and Redis comes back empty. Returns once it answers <c>PING</c>.
    /// </summary>
    public async Task RestartRedis(TimeSpan down, bool keepData, CancellationToken ct)
    {
        if (keepData)
        {
            await Podman.Run(["exec", _redis, "redis-cli", "SAVE"], ct);
        }

        await Podman.Run(["kill", "--signal", "KILL", _redis], ct);
        await Podman.Run(["wait", _redis], ct);
        if (!keepData)
        {
            File.Delete(Path.Combine(_redisData, "dump.rdb"));
        }

        await Task.Delay(down, ct);
        await Podman.Run(["start", _redis], ct);
        var deadline = DateTime.UtcNow + StartTimeout;
        while ((await Podman.TryRun(["exec", _redis, "redis-cli", "PING"], ct)).Stdout != "PONG")
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the Redis container did not answer PING within {StartTimeout.TotalSeconds:F0} s of its restart");
            }

            await Task.Delay(100, ct);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _client.StopAsync(CancellationToken.None);
        _client.Dispose();
        var ids = new Stack<string>();
        ids.Push(_redis);
        foreach (var s in _silos.OfType<string>())
        {
            ids.Push(s);
        }

        foreach (var g in _gateways)
        {
            ids.Push(g);
        }

        await Remove(ids, _network, _configDir);
        Stop(_watchdog);
    }

    private string SiloOf(int pod)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pod);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pod, _silos.Length);
        return _silos[pod]!;
    }

    private static string SiloIp(string prefix, int pod) => $"{prefix}.{20 + pod}";

    private string GatewayOf(int gateway)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(gateway);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(gateway, _gateways.Length);
        return _gateways[gateway];
    }

    private static string GatewayIp(string prefix, int gateway) => $"{prefix}.{10 + gateway}";

    /// <summary>A MoeDeployment of <paramref name="replicas"/> silo pods for a MoeModel whose weights are a claim mounted at /models/<paramref name="model"/>.</summary>
    private static (MoeDeployment Deployment, MoeModel Model) Objects(string model, int replicas)
    {
        var deployment = new MoeDeployment
        {
            Metadata = new V1ObjectMeta { Name = DeploymentName, NamespaceProperty = "default" },
            Spec = new MoeDeploymentSpec { ModelRef = new ModelReference { Name = model }, Replicas = replicas },
        };
        var moeModel = new MoeModel
        {
            Metadata = new V1ObjectMeta { Name = model, NamespaceProperty = "default" },
            Spec = new MoeModelSpec { Weights = new WeightSource { Path = "/models/" + model, ClaimName = "weights" } },
        };
        return (deployment, moeModel);
    }

    /// <summary>The ConfigMap's files, readable by the pods' non-root user.</summary>
    private static void WriteConfig(string dir, V1ConfigMap config)
    {
        const UnixFileMode readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        const UnixFileMode searchable = readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dir, searchable);
        }

        foreach (var (name, text) in config.Data)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllText(path, text);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, readable);
            }
        }
    }

    /// <summary>The first three octets of the network's IPv4 subnet (podman gives a fresh network a free /24).</summary>
    private static async Task<string> SubnetPrefix(string network, CancellationToken ct)
    {
        var subnet = await Podman.Run(["network", "inspect", network, "--format", "{{range .Subnets}}{{.Subnet}} {{end}}"], ct);
        var v4 = subnet.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(s => s.EndsWith("/24", StringComparison.Ordinal) && s.Count(c => c == '.') == 3)
            ?? throw new InvalidOperationException($"podman network {network} has no IPv4 /24 subnet ({subnet})");
        return v4[..v4.LastIndexOf('.')];
    }

    /// <summary>Polls an HTTP probe until it answers 2xx or 3xx; throws with the container's log when it never does or the container exits.</summary>
    private static async Task WaitProbe(HttpClient http, V1Probe probe, V1Container c, string ip, string id, CancellationToken ct)
    {
        var url = new Uri($"http://{ip}:{PodRun.PortOf(probe.HttpGet.Port, c)}{probe.HttpGet.Path}");
        var deadline = DateTime.UtcNow + StartTimeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await http.GetAsync(url, ct);
                if ((int)response.StatusCode is >= 200 and < 400)
                {
                    return;
                }

                last = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                last = e.Message;
            }

            if ((await Podman.TryRun(["container", "inspect", "--format", "{{.State.Running}}", id], ct)).Stdout != "true")
            {
                break;
            }

            await Task.Delay(500, ct);
        }

        var (_, stdout, stderr) = await Podman.TryRun(["logs", "--tail", "40", id], ct);
        throw new TimeoutException($"{c.Name} container {id[..Math.Min(12, id.Length)]}: probe {url} never passed ({last}); log:\n{stdout}\n{stderr}");
    }

    /// <summary>Removes the containers (by id, newest first), then the network, then the config directory; whatever fails, the rest is still removed.</summary>
    private static async Task Remove(Stack<string> ids, string? network, string configDir)
    {
        while (ids.TryPop(out var id))
        {
            await Podman.TryRun(["rm", "--force", "--time", "0", id], CancellationToken.None);
        }

        if (network is not null)
        {
            await Podman.TryRun(["network", "rm", "--force", network], CancellationToken.None);
        }

        Directory.Delete(configDir, recursive: true);
    }
}
