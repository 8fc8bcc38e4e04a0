using System.Diagnostics;
using System.Globalization;

namespace MoeCloud.Gateway.Tests.Observability;

/// <summary>
/// Debian's <c>chromium</c> (infra/lib/deps.sh installs it) run headless, once per call, with a user-data directory of
/// its own in a temporary folder; each run is bounded in time and stopped by its process id (with its children) when
/// it overruns.
/// </summary>
public static class HeadlessChromium
{
    /// <summary>Why the browser tests skip.</summary>
    public const string Missing = "chromium is not installed: run `source infra/lib/deps.sh && moecloud_install_chromium` (root and apt-get; infra/test.sh does)";

    /// <summary>The chromium binary ($MOECLOUD_CHROMIUM, else chromium or chromium-browser on the PATH), or null.</summary>
    public static string? Binary { get; } = Find();

    /// <summary>
    /// Loads <paramref name="url"/>, lets its scripts run for <paramref name="virtualMilliseconds"/> of virtual time
    /// (timers fire at once; the clock waits while requests are pending), and returns the DOM then (<c>--dump-dom</c>).
    /// </summary>
    public static async Task<string> DumpDom(Uri url, int virtualMilliseconds, TimeSpan within)
    {
        var (code, stdout, stderr) = await Run(within, $"--virtual-time-budget={virtualMilliseconds.ToString(CultureInfo.InvariantCulture)}", "--dump-dom", url.ToString());
        return code == 0 ? stdout : throw new InvalidOperationException($"chromium --dump-dom exited with {code}: {stderr}");
    }

    /// <summary>As <see cref="DumpDom"/>, then writes a PNG of a 1280 × 900 window to <paramref name="file"/>.</summary>
    public static async Task Screenshot(Uri url, string file, int virtualMilliseconds, TimeSpan within)
    {
        var (code, _, stderr) = await Run(within, $"--virtual-time-budget={virtualMilliseconds.ToString(CultureInfo.InvariantCulture)}", "--window-size=1280,900", "--hide-scrollbars", $"--screenshot={file}", url.ToString());
        if (code != 0)
        {
            throw new InvalidOperationException($"chromium --screenshot exited with {code}: {stderr}");
        }
    }

    private static async Task<(int Code, string Stdout, string Stderr)> Run(TimeSpan within, params string[] args)
    {
        var profile = Directory.CreateTempSubdirectory("moecloud-chromium-");
        try
        {
            var start = new ProcessStartInfo(Binary ?? throw new InvalidOperationException(Missing))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-sync", "--metrics-recording-only", $"--user-data-dir={profile.FullName}" }.Concat(args))
            {
                start.ArgumentList.Add(arg);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start chromium");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(within);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                await process.WaitForExitAsync(CancellationToken.None);
                throw new TimeoutException($"chromium did not finish within {within.TotalSeconds:F0} s (stopped, pid {process.Id}): {string.Join(' ', args)}");
            }

            return (process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }

    private static string? Find()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("MOECLOUD_CHROMIUM");
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return new[] { "chromium", "chromium-browser" }.SelectMany(name => path.Select(d => Path.Combine(d, name))).FirstOrDefault(File.Exists);
    }
}

/// <summary>A fact that needs headless Chromium; skipped with the reason when it is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.Binary is null)
        {
            Skip = HeadlessChromium.Missing;
        }
    }
}
