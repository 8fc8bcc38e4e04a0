using System.Diagnostics;
using System.Globalization;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>A silo process of a <see cref="ProcessCluster"/>: the process, its addresses and its CPU group (null without a quota).</summary>
/// <param name="Process">The <c>moectl silo</c> process.</param>
/// <param name="Endpoint">Its pod index and addresses.</param>
/// <param name="CpuGroup">The control group directory it runs in.</param>
internal sealed record Silo(Process Process, SiloEndpoint Endpoint, string? CpuGroup);

/// <summary>
/// Starts the <c>moectl silo</c> processes of one cluster: the same Redis, cluster id, models and options for every pod,
/// free loopback ports (or the pod's address on a shaped network), and the CPU quota when there is one. With
/// <paramref name="dashboardKeySha256"/> (admin key hashes) every silo serves the Orleans Dashboard on its ops port; with
/// <paramref name="microBatches"/> above 1 every silo cuts its steps into that many micro-batches (two-batch overlap).
/// </summary>
internal sealed class SiloLauncher(string redisAddress, string clusterId, IReadOnlyDictionary<string, string> models, IReadOnlyDictionary<string, string>? rehomeProfiles, ShapedNetwork? network, TextWriter log, CpuQuota? quota, IReadOnlyList<string>? dashboardKeySha256 = null, int microBatches = 1, Func<int[]>? ports = null)
{
    /// <summary>The Orleans cluster id.</summary>
    public string ClusterId => clusterId;

    /// <summary>The shaped network the pods run on, or null (loopback).</summary>
    public ShapedNetwork? Network => network;

    /// <summary>Lines of each silo's output kept for <see cref="Tail"/>.</summary>
    public const int TailLines = 20;

    private readonly Dictionary<int, Queue<string>> _tails = [];

    /// <summary>The CPU quota every silo gets, or null.</summary>
    public CpuQuota? Quota => quota;

    /// <summary>Starts pod <paramref name="pod"/>'s silo (not yet healthy) and puts it in its CPU group.</summary>
    public Silo Launch(int pod)
    {
        var given = ports?.Invoke() ?? FreePorts.Take(4);
        int runner = given[2], ops = given[3];
        var address = network?.PodAddress(pod) ?? "127.0.0.1";
        var args = BuildArguments(pod, given, address);
        var process = StartSelf(args, pod);
        string? group;
        try
        {
            group = quota?.Apply(pod, process.Id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new InvalidOperationException($"could not put pod {pod}'s silo in its CPU group: {e.Message}", e);
        }

        return new Silo(process, new SiloEndpoint(pod, new Uri($"http://{address}:{runner}"), new Uri($"http://{address}:{ops}")), group);
    }

    /// <summary>The arguments <see cref="Launch"/> passes to pod <paramref name="pod"/>'s <c>moectl silo</c> (for tests); ports are fresh each call.</summary>
    internal IReadOnlyList<string> Arguments(int pod) => BuildArguments(pod, FreePorts.Take(4), network?.PodAddress(pod) ?? "127.0.0.1");

    private List<string> BuildArguments(int pod, int[] ports, string address)
    {
        int silo = ports[0], gateway = ports[1], runner = ports[2], ops = ports[3];
        var args = new List<string>
        {
            "silo", "--pod", Text(pod), "--redis", redisAddress, "--cluster-id", clusterId,
            "--silo-port", Text(silo), "--gateway-port", Text(gateway), "--runner-port", Text(runner), "--ops-port", Text(ops),
            "--parent-pid", Text(Environment.ProcessId),
        };
        if (quota is not { Enabled: true })
        {
            // Every silo process shares this machine's cores: a weight load anywhere slows every pod's steps. Under a
            // CPU quota each silo loads within its own share, so a pod that serves nothing yet (a standby a scale-out
            // turns to) warms its replicas at the silo's default width without slowing the others.
            args.AddRange(["--warmups-in-flight", "1"]);
        }
        foreach (var (name, dir) in models)
        {
            args.AddRange(["--model", $"{name}={dir}"]);
        }

        if (rehomeProfiles is { Count: > 0 })
        {
            args.Add("--rehome");
            args.AddRange(rehomeProfiles.SelectMany(p => new[] { "--profile", $"{p.Key}={p.Value}" }));
        }

        if (microBatches > 1)
        {
            args.AddRange(["--micro-batches", Text(microBatches)]);
        }

        if (dashboardKeySha256 is { Count: > 0 })
        {
            args.AddRange(["--dashboard", "--admin-key-sha256", string.Join(',', dashboardKeySha256)]);
        }

        if (network is not null)
        {
            args.AddRange(["--address", address]);
        }

        return args;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private Process StartSelf(IEnumerable<string> args, int pod)
    {
        var processPath = Environment.ProcessPath ?? "dotnet";
        var entry = typeof(ProcessCluster).Assembly.Location;
        string[] all = Path.GetFileNameWithoutExtension(processPath) == "dotnet" ? [entry, .. args] : [.. args];
        var start = network is null ? new ProcessStartInfo(processPath, all) : network.InNamespace(pod, processPath, all);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start silo process {pod}");
        process.OutputDataReceived += (_, e) => Forward(pod, e.Data);
        process.ErrorDataReceived += (_, e) => Forward(pod, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>The last lines pod <paramref name="pod"/>'s silo wrote (at most <see cref="TailLines"/>), for an error that says why it exited.</summary>
    public string Tail(int pod)
    {
        lock (_tails)
        {
            return _tails.TryGetValue(pod, out var lines) ? string.Join(Environment.NewLine, lines) : "";
        }
    }

    /// <summary>Forgets pod <paramref name="pod"/>'s last lines (before it starts again).</summary>
    public void ClearTail(int pod)
    {
        lock (_tails)
        {
            _tails.Remove(pod);
        }
    }

    /// <summary>Writes <paramref name="line"/> about pod <paramref name="pod"/>'s silo to the log its output goes to.</summary>
    public void Note(int pod, string line)
    {
        lock (log)
        {
            log.WriteLine($"[pod-{pod}] {line}");
        }
    }

    private void Forward(int pod, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tails)
        {
            if (!_tails.TryGetValue(pod, out var lines))
            {
                _tails[pod] = lines = new Queue<string>();
            }

            lines.Enqueue(line);
            if (lines.Count > TailLines)
            {
                lines.Dequeue();
            }
        }

        lock (log)
        {
            log.WriteLine($"[pod-{pod}] {line}");
        }
    }
}
