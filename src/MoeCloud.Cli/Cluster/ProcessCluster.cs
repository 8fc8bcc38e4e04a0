using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
    private readonly List<Process> _processes;
    private readonly List<string[]> _arguments;
    private readonly TextWriter _log;
    private readonly ShapedNetwork? _network;
    private readonly IHost _client;

    /// <summary>How long a silo process gets after SIGTERM before it is killed: its own default shutdown timeout and a margin.</summary>
    private static readonly TimeSpan SiloStopGrace = new MoeCloudSiloOptions().ShutdownTimeout + TimeSpan.FromSeconds(5);

    private ProcessCluster(LocalRedis redis, List<Process> processes, List<string[]> arguments, TextWriter log, ShapedNetwork? network, IHost client, IReadOnlyList<SiloEndpoint> endpoints)
    {
        _redis = redis;
        _processes = processes;
        _arguments = arguments;
        _log = log;
        _network = network;
        _client = client;
        Endpoints = endpoints;
    }

    /// <inheritdoc />
    public string Mode => "processes";

    /// <inheritdoc />
    public IReadOnlyList<SiloEndpoint> Endpoints { get; }

    /// <inheritdoc />
    public IGrainFactory Grains => _client.Services.GetRequiredService<IClusterClient>();

    /// <summary>The Redis connection string the silos use.</summary>
    public string Redis => _redis.ConnectionString;

    /// <summary>
    /// Starts Redis and <paramref name="silos"/> silo processes serving <paramref name="models"/>, then connects. With
    /// <paramref name="rehomeProfiles"/> (model → profile trace directory) the silos re-home tokens between layers.
    /// </summary>
    public static async Task<ProcessCluster> Start(int silos, IReadOnlyDictionary<string, string> models, TextWriter log, CancellationToken cancellationToken = default, IReadOnlyDictionary<string, string>? rehomeProfiles = null, ShapedNetwork? network = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(log);
        var redis = await LocalRedis.Start(cancellationToken, network?.HostAddress);
        var redisAddress = network is null ? redis.ConnectionString : $"{network.HostAddress}:{redis.Port}";
        var processes = new List<Process>();
        var arguments = new List<string[]>();
        var clusterId = $"local-{Guid.NewGuid():N}";
        try
        {
            var ports = FreePorts.Take(silos * 4);
            var endpoints = new List<SiloEndpoint>();
            for (var pod = 0; pod < silos; pod++)
            {
                int silo = ports[pod * 4], gateway = ports[(pod * 4) + 1], runner = ports[(pod * 4) + 2], ops = ports[(pod * 4) + 3];
                var args = new List<string>
                {
                    "silo", "--pod", Text(pod), "--redis", redisAddress, "--cluster-id", clusterId,
                    "--silo-port", Text(silo), "--gateway-port", Text(gateway), "--runner-port", Text(runner), "--ops-port", Text(ops),
                    "--warmups-in-flight", "1", // every silo process shares this machine's cores
                    "--parent-pid", Text(Environment.ProcessId),
                };
                foreach (var (name, dir) in models)
                {
                    args.AddRange(["--model", $"{name}={dir}"]);
                }

                if (rehomeProfiles is { Count: > 0 })
                {
                    args.Add("--rehome");
                    args.AddRange(rehomeProfiles.SelectMany(p => new[] { "--profile", $"{p.Key}={p.Value}" }));
                }

                var address = network?.PodAddress(pod) ?? "127.0.0.1";
                if (network is not null)
                {
                    args.AddRange(["--address", address]);
                }

                arguments.Add([.. args]);
                processes.Add(StartSelf(args, log, pod, network));
                endpoints.Add(new SiloEndpoint(pod, new Uri($"http://{address}:{runner}"), new Uri($"http://{address}:{ops}")));
            }

            await WaitHealthy(endpoints, processes, TimeSpan.FromSeconds(90), cancellationToken);
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.UseOrleansClient(c =>
            {
                c.UseRedisClustering(redis.ConnectionString);
                c.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = "moecloud";
                });
            });
            var client = builder.Build();
            await client.StartAsync(cancellationToken);
            return new ProcessCluster(redis, processes, arguments, log, network, client, endpoints);
        }
        catch
        {
            await Stop(processes);
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills pod <paramref name="pod"/>'s silo process outright (SIGKILL, by its pid): a crash, for chaos runs.</summary>
    public void Kill(int pod) => _processes[pod].Kill();

    /// <summary>Asks pod <paramref name="pod"/>'s silo process to stop (SIGTERM, by its pid): a graceful stop, as a scale-in sends.</summary>
    public Task Terminate(int pod) => ChildProcesses.Terminate(_processes[pod].Id);

    /// <summary>Waits until pod <paramref name="pod"/>'s silo process has exited.</summary>
    public Task WaitForExit(int pod, CancellationToken cancellationToken) => _processes[pod].WaitForExitAsync(cancellationToken);

    /// <summary>Whether pod <paramref name="pod"/>'s silo process has exited, and its exit code when it has.</summary>
    public int? ExitCode(int pod) => _processes[pod].HasExited ? _processes[pod].ExitCode : null;

    /// <summary>
    /// Starts pod <paramref name="pod"/>'s silo process again, with the same ports and options, after it exited (as a
    /// StatefulSet restarts a pod), and waits until it is healthy. It joins membership as a new silo generation.
    /// </summary>
    public async Task Restart(int pod, CancellationToken cancellationToken)
    {
        if (!_processes[pod].HasExited)
        {
            throw new InvalidOperationException($"the silo process of pod {pod} is still running");
        }

        _processes[pod].Dispose();
        _processes[pod] = StartSelf(_arguments[pod], _log, pod, _network);
        await WaitHealthy([Endpoints[pod]], _processes, TimeSpan.FromSeconds(90), cancellationToken);
    }

    /// <summary>Crashes the membership store and starts it again on its port after <paramref name="down"/> (see <see cref="LocalRedis.Restart"/>).</summary>
    public Task RestartRedis(TimeSpan down, bool keepData, CancellationToken cancellationToken) => _redis.Restart(down, keepData, cancellationToken);

    /// <summary>Cuts pod <paramref name="pod"/> off the network or heals it; only for a cluster started in a <see cref="ShapedNetwork"/>.</summary>
    public Task SetLink(int pod, bool up, CancellationToken cancellationToken) =>
        (_network ?? throw new InvalidOperationException("this cluster was started without a network of its own; pass a ShapedNetwork to Start")).SetLink(pod, up, cancellationToken);

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
            await Stop(_processes);
            await _redis.DisposeAsync();
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static Process StartSelf(IEnumerable<string> args, TextWriter log, int pod, ShapedNetwork? network)
    {
        var processPath = Environment.ProcessPath ?? "dotnet";
        var entry = typeof(ProcessCluster).Assembly.Location;
        string[] all = Path.GetFileNameWithoutExtension(processPath) == "dotnet" ? [entry, .. args] : [.. args];
        var start = network is null ? new ProcessStartInfo(processPath, all) : network.InNamespace(pod, processPath, all);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start silo process {pod}");
        process.OutputDataReceived += (_, e) => Forward(log, pod, e.Data);
        process.ErrorDataReceived += (_, e) => Forward(log, pod, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static void Forward(TextWriter log, int pod, string? line)
    {
        if (line is not null)
        {
            lock (log)
            {
                log.WriteLine($"[pod-{pod}] {line}");
            }
        }
    }

    private static async Task WaitHealthy(IReadOnlyList<SiloEndpoint> endpoints, IReadOnlyList<Process> processes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        foreach (var endpoint in endpoints)
        {
            while (true)
            {
                if (processes[endpoint.Pod].HasExited)
                {
                    throw new InvalidOperationException($"silo process of pod {endpoint.Pod} exited with code {processes[endpoint.Pod].ExitCode} before it became healthy.");
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

    private static Task Stop(IReadOnlyList<Process> processes) => ChildProcesses.Stop(processes, SiloStopGrace);
}
