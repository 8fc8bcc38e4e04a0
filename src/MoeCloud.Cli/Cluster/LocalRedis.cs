using System.Diagnostics;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// A private redis-server on a free loopback port for the multi-process local cluster's membership, started with
/// <c>--daemonize yes --pidfile</c> (no service manager runs here) and stopped by that pid.
/// </summary>
public sealed class LocalRedis : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _pidFile;

    private LocalRedis(int port, string directory)
    {
        Port = port;
        _directory = directory;
        _pidFile = Path.Combine(directory, "redis.pid");
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

    /// <summary>Starts redis-server; throws <see cref="InvalidOperationException"/> with the install command when it is missing.</summary>
    public static async Task<LocalRedis> Start(CancellationToken cancellationToken = default)
    {
        var server = FindServer() ?? throw new InvalidOperationException("redis-server was not found; install it with 'apt-get install -y redis-server' (infra/test.sh does) or set MOECLOUD_REDIS_SERVER.");
        var port = FreePorts.Take(1)[0];
        var directory = Path.Combine(Path.GetTempPath(), "moecloud-redis", $"{port}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var redis = new LocalRedis(port, directory);
        var start = new ProcessStartInfo(server, ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--daemonize", "yes", "--pidfile", redis._pidFile, "--dir", directory, "--save", "", "--appendonly", "no"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using (var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {server}"))
        {
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"redis-server exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
            }
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(redis._pidFile) || !await CanConnect(port))
        {
            if (DateTime.UtcNow > deadline)
            {
                await redis.DisposeAsync();
                throw new InvalidOperationException($"redis-server did not start listening on 127.0.0.1:{port} within 10 s.");
            }

            await Task.Delay(50, cancellationToken);
        }

        return redis;
    }

    /// <summary>Stops the server by its pid and removes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (File.Exists(_pidFile) && int.TryParse((await File.ReadAllTextAsync(_pidFile)).Trim(), out var pid))
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
            catch (TimeoutException)
            {
                // The OS reaps it; nothing else holds the port for long.
            }
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the temp cleaner.
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
