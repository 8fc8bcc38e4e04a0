using System.Diagnostics;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// A private redis-server on a free loopback port for the multi-process local cluster's membership: a child process of
/// moectl (not daemonized), stopped by its pid on dispose (SIGTERM, a grace period, then kill). A small <c>/bin/sh</c>
/// watchdog, also a child, stops it when moectl is gone without disposing it (killed outright).
/// </summary>
public sealed class LocalRedis : IAsyncDisposable
{
    // $1: the pid to outlive; $2: redis-server. Exits when either is gone; stops redis-server when $1 went first.
    private const string Watchdog = """
        while kill -0 "$1" 2>/dev/null; do kill -0 "$2" 2>/dev/null || exit 0; sleep 1; done
        kill -TERM "$2" 2>/dev/null; sleep 5; kill -0 "$2" 2>/dev/null && kill -KILL "$2"
        exit 0
        """;

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);
    private readonly string _directory;
    private readonly string? _alsoBind;
    private readonly List<string> _output = [];
    private Process _server;
    private Process _watchdog;
    private int _disposed;

    private LocalRedis(int port, string directory, string? alsoBind, Process server, Process watchdog)
    {
        Port = port;
        _directory = directory;
        _alsoBind = alsoBind;
        _server = server;
        _watchdog = watchdog;
    }

    /// <summary>The port it listens on (127.0.0.1 only).</summary>
    public int Port { get; }

    /// <summary>The connection string.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Where redis-server is: <c>MOECLOUD_REDIS_SERVER</c>, PATH, or /usr/bin; null when absent.</summary>
    public static string? FindServer()
    {
        var fromEnv = Environment.GetEnvironmentVariable("MOECLOUD_REDIS_SERVER");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return File.Exists(fromEnv) ? fromEnv : null;
        }

        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/usr/sbin").Select(d => Path.Combine(d, "redis-server"));
        return candidates.FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Starts redis-server on loopback, and on <paramref name="alsoBind"/> when given: an address on a private network
    /// this process made, where the silos in its namespaces reach it (protected mode is off for that, since Redis would
    /// refuse them). Throws <see cref="InvalidOperationException"/> with the install command when it is missing.
    /// </summary>
    public static async Task<LocalRedis> Start(CancellationToken cancellationToken = default, string? alsoBind = null)
    {
        var port = FreePorts.Take(1)[0];
        var directory = Path.Combine(Path.GetTempPath(), "moecloud-redis", $"{port}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var (server, watchdog) = Launch(port, directory, alsoBind);
        var redis = new LocalRedis(port, directory, alsoBind, server, watchdog);
        redis.Follow(server);
        await redis.WaitListening(cancellationToken);
        return redis;
    }

    /// <summary>
    /// A crash and restart of the membership store, for chaos runs: with <paramref name="keepData"/> the data set is
    /// saved first (as a store with persistence would keep it), then redis-server is killed (SIGKILL), stays down for
    /// <paramref name="down"/>, and starts again on the same port with the saved data, or empty without it.
    /// <paramref name="whileDown"/>, when given, runs once the server is gone, before that wait (a fault that happens
    /// while the store is down).
    /// </summary>
    public async Task Restart(TimeSpan down, bool keepData, CancellationToken cancellationToken, Func<CancellationToken, Task>? whileDown = null)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var dump = Path.Combine(_directory, "dump.rdb");
        if (keepData)
        {
            await Command("SAVE", cancellationToken);
        }
        else
        {
            File.Delete(dump);
        }

        _server.Kill();
        await _server.WaitForExitAsync(cancellationToken);
        await ChildProcesses.Stop([_server, _watchdog], StopGrace); // the watchdog exits with its server; this reaps both
        if (whileDown is not null)
        {
            await whileDown(cancellationToken);
        }

        await Task.Delay(down, cancellationToken);
        (_server, _watchdog) = Launch(Port, _directory, _alsoBind);
        Follow(_server);
        await WaitListening(cancellationToken);
    }

    /// <summary>Stops the server and its watchdog by their pids and removes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await ChildProcesses.Stop([_server, _watchdog], StopGrace);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the temp cleaner.
        }
    }

    private static (Process Server, Process Watchdog) Launch(int port, string directory, string? alsoBind)
    {
        var server = FindServer() ?? throw new InvalidOperationException("redis-server was not found; install it with 'apt-get install -y redis-server' (infra/test.sh does) or set MOECLOUD_REDIS_SERVER.");
        var start = new ProcessStartInfo(server, ["--port", Text(port), "--bind", "127.0.0.1", .. (alsoBind is null ? Array.Empty<string>() : [alsoBind, "--protected-mode", "no"]), "--daemonize", "no", "--dir", directory, "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {server}");
        try
        {
            var watchdog = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", Watchdog, "moecloud-redis-watchdog", Text(Environment.ProcessId), Text(process.Id)])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            }) ?? throw new InvalidOperationException("could not start the redis-server watchdog (/bin/sh)");
            return (process, watchdog);
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
    }

    private void Follow(Process server)
    {
        server.OutputDataReceived += (_, e) => Keep(e.Data);
        server.ErrorDataReceived += (_, e) => Keep(e.Data);
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
    }

    private async Task WaitListening(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await CanConnect(Port))
        {
            if (_server.HasExited || DateTime.UtcNow > deadline)
            {
                var why = _server.HasExited ? $"exited with {_server.ExitCode}" : "did not start listening within 10 s";
                var output = Output();
                await DisposeAsync();
                throw new InvalidOperationException($"redis-server on 127.0.0.1:{Port} {why}: {output}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }

    /// <summary>Sends one argument-less command (RESP) and checks that it was answered <c>+OK</c>.</summary>
    private async Task Command(string command, CancellationToken cancellationToken)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"*1\r\n${command.Length}\r\n{command}\r\n"), cancellationToken);
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer, cancellationToken);
        var reply = System.Text.Encoding.ASCII.GetString(buffer, 0, read).TrimEnd();
        if (reply != "+OK")
        {
            throw new InvalidOperationException($"redis-server on 127.0.0.1:{Port} answered '{reply}' to {command}.");
        }
    }

    private static string Text(int value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private void Keep(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.Add(line);
                if (_output.Count > 20)
                {
                    _output.RemoveAt(0);
                }
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return string.Join(" | ", _output);
        }
    }

    private static async Task<bool> CanConnect(int port)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
