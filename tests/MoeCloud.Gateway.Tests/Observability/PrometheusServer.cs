using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Gateway.Tests.Observability;

/// <summary>
/// A real Prometheus server (Debian's <c>prometheus</c> package; infra/lib/deps.sh installs it) on a free loopback port,
/// with a config of its own scraping the given targets every second, stopped by its process id on dispose.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly HttpClient _http;
    private readonly string _dir;

    private PrometheusServer(Process process, Uri address, string dir)
    {
        _process = process;
        _dir = dir;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The prometheus binary ($MOECLOUD_PROMETHEUS, else on the PATH), or null.</summary>
    public static string? Binary => Find("MOECLOUD_PROMETHEUS", "prometheus");

    /// <summary>The promtool binary ($MOECLOUD_PROMTOOL, else on the PATH), or null.</summary>
    public static string? Promtool => Find("MOECLOUD_PROMTOOL", "promtool");

    /// <summary>Why the Prometheus tests skip.</summary>
    public const string Missing = "prometheus or promtool is not installed: run `source infra/lib/deps.sh && moecloud_install_prometheus` (root and apt-get; infra/test.sh does)";

    /// <summary>
    /// Starts Prometheus scraping <paramref name="jobs"/> (job name → host:port targets) every second and evaluating
    /// <paramref name="rulesFile"/> every second; waits (bounded) until it is ready.
    /// </summary>
    public static async Task<PrometheusServer> Start(IReadOnlyDictionary<string, string[]> jobs, string rulesFile, TimeSpan readyWithin)
    {
        var dir = Directory.CreateTempSubdirectory("moecloud-prometheus-").FullName;
        var config = Path.Combine(dir, "prometheus.yml");
        var lines = new List<string>
        {
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "  evaluation_interval: 1s",
            "rule_files:",
            $"  - '{rulesFile}'",
            "scrape_configs:",
        };
        foreach (var (job, targets) in jobs)
        {
            lines.Add($"  - job_name: '{job}'");
            lines.Add("    static_configs:");
            lines.Add("      - targets: [" + string.Join(", ", targets.Select(t => $"'{t}'")) + "]");
        }

        await File.WriteAllLinesAsync(config, lines);
        var port = FreePorts.Take(1)[0];
        var start = new ProcessStartInfo(Binary ?? throw new InvalidOperationException(Missing))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(dir, "data")}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            "--log.level=warn",
        })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start prometheus");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrometheusServer(process, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/"), dir);
        try
        {
            await server.WaitReady(readyWithin);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>An instant query: the result vector's length (series returned), or the API's error.</summary>
    public async Task<(int Series, string? Error)> Query(string promql)
    {
        using var response = await _http.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(promql));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (body.GetProperty("status").GetString() != "success")
        {
            return (0, body.TryGetProperty("error", out var error) ? error.GetString() : response.StatusCode.ToString());
        }

        var data = body.GetProperty("data");
        return data.GetProperty("resultType").GetString() is "vector" or "matrix" ? (data.GetProperty("result").GetArrayLength(), null) : (1, null);
    }

    /// <summary>The rules Prometheus loaded: (alert or record name, query, health, last error) per rule.</summary>
    public async Task<IReadOnlyList<(string Name, string Query, string Health, string? Error)>> Rules()
    {
        var body = await _http.GetFromJsonAsync<JsonElement>("api/v1/rules");
        return body.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (r.GetProperty("name").GetString()!, r.GetProperty("query").GetString()!, r.GetProperty("health").GetString()!,
                r.TryGetProperty("lastError", out var e) ? e.GetString() : null))
            .ToArray();
    }

    /// <summary>Runs promtool (bounded to a minute) with <paramref name="stdin"/> as its input; its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunPromtool(string? stdin, params string[] args)
    {
        var start = new ProcessStartInfo(Promtool ?? throw new InvalidOperationException(Missing))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start promtool");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Stops the server (by its process id) and removes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(cts.Token);
        }

        _process.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task WaitReady(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with code {_process.ExitCode} before it was ready.");
            }

            try
            {
                using var response = await _http.GetAsync("-/ready", cts.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            await Task.Delay(200, cts.Token);
        }
    }

    private static string? Find(string variable, string name)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
    }
}

/// <summary>A fact that needs the real prometheus and promtool; skipped with the reason when they are not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PrometheusFactAttribute : FactAttribute
{
    public PrometheusFactAttribute()
    {
        if (PrometheusServer.Binary is null || PrometheusServer.Promtool is null)
        {
            Skip = PrometheusServer.Missing;
        }
    }
}
