using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Hosting;
using Orleans.Configuration;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// One <c>moectl silo</c> process per pod, with membership in a private Redis; moectl talks to the cluster through an
/// Orleans client. Every process binds loopback ports only and is stopped on dispose: SIGTERM, the silo's shutdown
/// timeout plus a margin, then kill. Each silo also watches this process (<c>--parent-pid</c>) and stops when it is gone,
/// so a moectl that is killed outright does not leave silos behind; Redis has its own watchdog (<see cref="LocalRedis"/>).
/// </summary>
public sealed class ProcessCluster : ILocalCluster
{
    private readonly LocalRedis _redis;
    private readonly SiloLauncher _launcher;
    private readonly List<Silo> _silos;
    private readonly IHost _client;
    private readonly SemaphoreSlim _scaling = new(1, 1);

    /// <summary>How long a silo process gets after SIGTERM before it is killed: its own default shutdown timeout and a margin.</summary>
    private static readonly TimeSpan SiloStopGrace = new MoeCloudSiloOptions().ShutdownTimeout + TimeSpan.FromSeconds(5);

    /// <summary>How long a silo process may take to become healthy.</summary>
    private static readonly TimeSpan SiloStartTimeout = TimeSpan.FromSeconds(90);

    private ProcessCluster(LocalRedis redis, SiloLauncher launcher, List<Silo> silos, IHost client)
    {
        _redis = redis;
        _launcher = launcher;
        _silos = silos;
        _client = client;
    }

    /// <inheritdoc />
    public string Mode => "processes";

    /// <inheritdoc />
    public IReadOnlyList<SiloEndpoint> Endpoints
    {
        get
        {
            lock (_silos)
            {
                return [.. _silos.Select(s => s.Endpoint)];
            }
        }
    }

    /// <inheritdoc />
    public IGrainFactory Grains => _client.Services.GetRequiredService<IClusterClient>();

    /// <summary>The Redis connection string the silos use.</summary>
    public string Redis => _redis.ConnectionString;

    /// <summary>The CPU quota path each silo runs under, or why quotas are off; null when no quota was asked for.</summary>
    public string? CpuQuota => _launcher.Quota?.Description;

    /// <summary>
    /// Starts Redis and <paramref name="silos"/> silo processes serving <paramref name="models"/>, then connects. With
    /// <paramref name="rehomeProfiles"/> (model → profile trace directory) the silos re-home tokens between layers; with
    /// <paramref name="cpus"/> each silo process gets that many CPUs as a fixed quota (<see cref="Cluster.CpuQuota"/>;
    /// <see cref="CpuQuota"/> says which path runs or why quotas are off); with <paramref name="dashboardKeySha256"/>
    /// (admin key hashes) every silo serves the Orleans Dashboard on its ops port (<c>moectl silo --dashboard</c>); with
    /// <paramref name="microBatches"/> above 1 every silo cuts its steps into micro-batches (<c>moectl silo --micro-batches</c>).
    /// </summary>
    public static Task<ProcessCluster> Start(int silos, IReadOnlyDictionary<string, string> models, TextWriter log, CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? rehomeProfiles = null, ShapedNetwork? network = null, double? cpus = null, IReadOnlyList<string>? dashboardKeySha256 = null, int microBatches = 1) =>
        Start(silos, models, log, ports: null, cancellationToken, rehomeProfiles, network, cpus, dashboardKeySha256, microBatches);

    /// <summary>As the public <c>Start</c>, with each silo start's four ports (silo, gateway, runner, ops) from <paramref name="ports"/> (null: free ports).</summary>
    internal static async Task<ProcessCluster> Start(int silos, IReadOnlyDictionary<string, string> models, TextWriter log, Func<int[]>? ports, CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? rehomeProfiles = null, ShapedNetwork? network = null, double? cpus = null, IReadOnlyList<string>? dashboardKeySha256 = null, int microBatches = 1)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentOutOfRangeException.ThrowIfLessThan(silos, 1);
        var quota = cpus is { } share ? Cluster.CpuQuota.Create(share) : null;
        var redis = await LocalRedis.Start(cancellationToken, network?.HostAddress);
        var redisAddress = network is null ? redis.ConnectionString : $"{network.HostAddress}:{redis.Port}";
        var launcher = new SiloLauncher(redisAddress, $"local-{Guid.NewGuid():N}", models, rehomeProfiles, network, log, quota, dashboardKeySha256, microBatches, ports);
        var started = new List<Silo>();
        var launched = DateTime.UtcNow;
        try
        {
            for (var pod = 0; pod < silos; pod++)
            {
                started.Add(launcher.Launch(pod));
            }

            await WaitHealthy(started, launcher, SiloStartTimeout, cancellationToken);
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.UseOrleansClient(c =>
            {
                c.UseRedisClustering(redis.ConnectionString);
                c.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = launcher.ClusterId;
                    o.ServiceId = "moecloud";
                });
            });
            var client = builder.Build();
            await client.StartAsync(cancellationToken);
            try
            {
                await WaitJoined(client.Services.GetRequiredService<IClusterClient>(), started, launched, SiloStartTimeout, cancellationToken);
            }
            catch
            {
                await client.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                client.Dispose();
                throw;
            }

            return new ProcessCluster(redis, launcher, started, client);
        }
        catch
        {
            await Stop(started);
            quota?.Dispose();
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts <paramref name="count"/> more silo processes (the next pod indexes) that join the running cluster, and
    /// returns their endpoints once each is healthy. They serve nothing until a plan places experts on them (a joined,
    /// unplaced pod is a standby). Not possible on a shaped network, whose pod namespaces are made up front.
    /// </summary>
    public async Task<IReadOnlyList<SiloEndpoint>> AddSilos(int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (_launcher.Network is not null)
        {
            throw new InvalidOperationException("silos cannot be added to a cluster on a shaped network: its pod namespaces are made when it starts.");
        }

        await _scaling.WaitAsync(cancellationToken);
        try
        {
            var first = Endpoints.Count;
            var added = new List<Silo>();
            var launched = DateTime.UtcNow;
            try
            {
                for (var pod = first; pod < first + count; pod++)
                {
                    added.Add(_launcher.Launch(pod));
                }

                await WaitHealthy(added, _launcher, SiloStartTimeout, cancellationToken);
                await WaitJoined(_client.Services.GetRequiredService<IClusterClient>(), added, launched, SiloStartTimeout, cancellationToken);
            }
            catch
            {
                await Stop(added);
                throw;
            }

            lock (_silos)
            {
                _silos.AddRange(added);
            }

            return [.. added.Select(s => s.Endpoint)];
        }
        finally
        {
            _scaling.Release();
        }
    }

    /// <summary>
    /// Stops the highest pod's silo gracefully (SIGTERM: it drains, then leaves membership; killed after the stop grace)
    /// and returns its pod index. Move its experts off first (a plan on fewer pods), or its share fails over as after a
    /// crash. The last silo is never removed.
    /// </summary>
    public async Task<int> RemoveSilo(CancellationToken cancellationToken)
    {
        await _scaling.WaitAsync(cancellationToken);
        try
        {
            Silo top;
            lock (_silos)
            {
                if (_silos.Count <= 1)
                {
                    throw new InvalidOperationException("the last silo of a cluster is not removed; dispose the cluster instead.");
                }

                top = _silos[^1];
            }

            await ChildProcesses.Stop([top.Process], SiloStopGrace);
            _launcher.Quota?.Release(top.Endpoint.Pod);
            lock (_silos)
            {
                _silos.Remove(top);
            }

            return top.Endpoint.Pod;
        }
        finally
        {
            _scaling.Release();
        }
    }

    /// <summary>Kills pod <paramref name="pod"/>'s silo process outright (SIGKILL, by its pid): a crash, for chaos runs.</summary>
    public void Kill(int pod) => SiloOf(pod).Process.Kill();

    /// <summary>Asks pod <paramref name="pod"/>'s silo process to stop (SIGTERM, by its pid): a graceful stop, as a scale-in sends.</summary>
    public Task Terminate(int pod) => ChildProcesses.Terminate(SiloOf(pod).Process.Id);

    /// <summary>Waits until pod <paramref name="pod"/>'s silo process has exited.</summary>
    public Task WaitForExit(int pod, CancellationToken cancellationToken) => SiloOf(pod).Process.WaitForExitAsync(cancellationToken);

    /// <summary>The pid of pod <paramref name="pod"/>'s silo process.</summary>
    public int ProcessId(int pod) => SiloOf(pod).Process.Id;

    /// <summary>The control group directory pod <paramref name="pod"/>'s silo runs in, or null without a CPU quota.</summary>
    internal string? CpuGroup(int pod) => SiloOf(pod).CpuGroup;

    /// <summary>Whether pod <paramref name="pod"/>'s silo process has exited, and its exit code when it has.</summary>
    public int? ExitCode(int pod) => SiloOf(pod).Process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>
    /// Starts pod <paramref name="pod"/>'s silo process again with the same options (fresh ports), after it exited (as a
    /// StatefulSet restarts a pod), and waits until it is healthy. It joins membership as a new silo generation.
    /// </summary>
    public async Task Restart(int pod, CancellationToken cancellationToken)
    {
        var old = SiloOf(pod);
        if (!old.Process.HasExited)
        {
            throw new InvalidOperationException($"the silo process of pod {pod} is still running");
        }

        _launcher.Quota?.Release(pod);
        var launched = DateTime.UtcNow;
        var fresh = _launcher.Launch(pod);
        lock (_silos)
        {
            _silos[pod] = fresh;
        }

        old.Process.Dispose();
        List<Silo> restarted = [fresh];
        try
        {
            await WaitHealthy(restarted, _launcher, SiloStartTimeout, cancellationToken);
            await WaitJoined(_client.Services.GetRequiredService<IClusterClient>(), restarted, launched, SiloStartTimeout, cancellationToken);
        }
        finally
        {
            lock (_silos)
            {
                _silos[pod] = restarted[0]; // started again on other ports when one was taken
            }
        }
    }

    /// <summary>Crashes the membership store and starts it again on its port after <paramref name="down"/> (see <see cref="LocalRedis.Restart"/>).</summary>
    public Task RestartRedis(TimeSpan down, bool keepData, CancellationToken cancellationToken, Func<CancellationToken, Task>? whileDown = null) =>
        _redis.Restart(down, keepData, cancellationToken, whileDown);

    /// <summary>Cuts pod <paramref name="pod"/> off the network or heals it; only for a cluster started in a <see cref="ShapedNetwork"/>.</summary>
    public Task SetLink(int pod, bool up, CancellationToken cancellationToken) =>
        (_launcher.Network ?? throw new InvalidOperationException("this cluster was started without a network of its own; pass a ShapedNetwork to Start")).SetLink(pod, up, cancellationToken);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _client.StopAsync(bound.Token).WaitAsync(TimeSpan.FromSeconds(10));
            _client.Dispose();
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The client could not leave cleanly (a silo or Redis already gone); the processes are stopped regardless.
        }
        finally
        {
            Silo[] silos;
            lock (_silos)
            {
                silos = [.. _silos];
            }

            await Stop(silos);
            _launcher.Quota?.Dispose();
            await _redis.DisposeAsync();
            _scaling.Dispose();
        }
    }

    private Silo SiloOf(int pod)
    {
        lock (_silos)
        {
            return pod >= 0 && pod < _silos.Count ? _silos[pod] : throw new ArgumentOutOfRangeException(nameof(pod), pod, $"the cluster has pods 0..{_silos.Count - 1}");
        }
    }

    /// <summary>
    /// Most starts of one silo process, counting the first, when it keeps exiting because a port it was given was bound
    /// first by another process (a free port is only checked, not held: <see cref="FreePorts"/>); each start has fresh ports.
    /// </summary>
    internal const int PortAttempts = 3;

    /// <summary>
    /// Waits until every silo of <paramref name="silos"/> answers <c>/healthz</c>. A silo that exits first fails the wait
    /// with its last lines, unless it exited because one of its ports was taken: then it is started again on fresh
    /// ports, in place in <paramref name="silos"/>, up to <see cref="PortAttempts"/> starts in all.
    /// </summary>
    private static async Task WaitHealthy(List<Silo> silos, SiloLauncher launcher, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        for (var i = 0; i < silos.Count; i++)
        {
            var starts = 1;
            while (true)
            {
                var (process, endpoint, _) = silos[i];
                if (process.HasExited)
                {
                    await process.WaitForExitAsync(cancellationToken); // its output read to the end, so the tail holds why
                    var tail = launcher.Tail(endpoint.Pod);
                    if (starts < PortAttempts && tail.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
                    {
                        starts++;
                        launcher.Note(endpoint.Pod, $"a port the silo was given was taken; starting it again on other ports (start {starts} of {PortAttempts})");
                        launcher.Quota?.Release(endpoint.Pod);
                        launcher.ClearTail(endpoint.Pod);
                        silos[i] = launcher.Launch(endpoint.Pod);
                        process.Dispose();
                        continue;
                    }

                    throw new InvalidOperationException($"silo process of pod {endpoint.Pod} exited with code {process.ExitCode} before it became healthy." +
                        (tail.Length == 0 ? " It wrote nothing." : $" Its last lines:{Environment.NewLine}{tail}"));
                }

                try
                {
                    if ((await http.GetAsync(new Uri(endpoint.Ops, "/healthz"), cancellationToken)).IsSuccessStatusCode)
                    {
                        break;
                    }
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
                catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // A slow start.
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"silo process of pod {endpoint.Pod} did not become healthy within {timeout.TotalSeconds:F0} s.");
                }

                await Task.Delay(200, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Waits until each of <paramref name="silos"/> is an active member in the cluster's own view (the management grain)
    /// and grains are placed on it (<see cref="LocalClusterExtensions.WaitPlaceable"/>): a silo answers <c>/healthz</c>
    /// while it is still joining, and a caller that starts next (a gateway following the membership) must find it. An
    /// incarnation started before <paramref name="launched"/> (the one a restart replaces, not yet declared dead) does
    /// not count.
    /// </summary>
    private static async Task WaitJoined(IGrainFactory grains, IReadOnlyList<Silo> silos, DateTime launched, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        var since = launched - TimeSpan.FromSeconds(1); // the silos' clocks are this machine's; a margin for rounding
        while (true)
        {
            int[] missing;
            try
            {
                var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
                var joined = hosts.Where(h => h.Status == SiloStatus.Active && h.StartTime >= since).Select(h => PodNames.PodOfSiloName(h.SiloName)).ToHashSet();
                missing = [.. silos.Select(s => s.Endpoint.Pod).Where(p => !joined.Contains(p))];
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                missing = [.. silos.Select(s => s.Endpoint.Pod)]; // no answer yet: asked again
            }

            if (missing.Length == 0)
            {
                await grains.WaitPlaceable(silos.Select(s => s.Endpoint.Pod), deadline - DateTime.UtcNow, cancellationToken);
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the silo process of pod {string.Join(", ", missing)} answered /healthz but was not an active cluster member within {timeout.TotalSeconds:F0} s.");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    private static Task Stop(IEnumerable<Silo> silos) => ChildProcesses.Stop([.. silos.Select(s => s.Process)], SiloStopGrace);
}
