using System.Diagnostics;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// Podman and MoeCloud's images (infra/images/build.sh), when this machine has them. <see cref="Unavailable"/> says
/// exactly why not; <see cref="ContainerFactAttribute"/> skips with that reason.
/// </summary>
public static class ContainerImages
{
    private static readonly Lazy<string?> Reason = new(FindReason);

    /// <summary>
    /// The images' tag: <c>MOECLOUD_IMAGE_TAG</c> when set (images built with <c>infra/images/build.sh --tag</c>), else the
    /// chart's appVersion, which infra/images/build.sh tags them with.
    /// </summary>
    public static string Tag { get; } = Environment.GetEnvironmentVariable("MOECLOUD_IMAGE_TAG") is { Length: > 0 } tag ? tag : File.ReadLines(Path.Combine(RepoPaths.Chart, "Chart.yaml"))
        .Single(l => l.StartsWith("appVersion:", StringComparison.Ordinal))["appVersion:".Length..].Trim().Trim('"');

    public static string Operator => $"localhost/moecloud-operator:{Tag}";

    public static string Silo => $"localhost/moecloud-silo:{Tag}";

    public static string Gateway => $"localhost/moecloud-gateway:{Tag}";

    public static string Redis => $"localhost/moecloud-redis:{Tag}";

    /// <summary>Why the container tests cannot run here; null when podman and all four images are present.</summary>
    public static string? Unavailable => Reason.Value;

    private static string? FindReason()
    {
        var marker = Path.Combine(RepoPaths.Root, "artifacts", "images", "unavailable");
        if (File.Exists(marker))
        {
            return File.ReadAllText(marker).Trim();
        }

        if (Run("podman", "--version") is null)
        {
            return "podman is not installed (infra/lib/deps.sh installs podman, buildah, runc and mmdebstrap as root with apt-get)";
        }

        var missing = new[] { Operator, Silo, Gateway, Redis }.Where(i => Run("podman", "image", "exists", i) is null).ToArray();
        return missing.Length == 0 ? null : $"image {string.Join(", ", missing)} not built (run infra/images/build.sh)";
    }

    /// <summary>Runs a short command; its standard output, or null when it cannot start or exits non-zero.</summary>
    internal static string? Run(string file, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            args.ToList().ForEach(start.ArgumentList.Add);
            using var p = Process.Start(start)!;
            var output = p.StandardOutput.ReadToEnd();
            p.StandardError.ReadToEnd();
            return p.WaitForExit(30_000) && p.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}

/// <summary>
/// The tests that run MoeCloud's real images: one at a time and alone, since each starts several containers on this
/// machine's few cores and the chaos tests count requests that miss their deadlines.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ContainerCollection
{
    public const string Name = "Containers";
}

/// <summary>A fact that runs MoeCloud's real images in podman; skipped with the reason when this machine cannot.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ContainerFactAttribute : FactAttribute
{
    public ContainerFactAttribute()
    {
        if (ContainerImages.Unavailable is { } reason)
        {
            Skip = $"No container engine with MoeCloud's images here: {reason}.";
        }
    }
}

/// <summary>
/// <c>podman system service</c> serving the Docker API on a socket of its own, for Testcontainers; started by the test
/// and stopped by it (by its process id). Testcontainers' resource reaper (Ryuk, an image pulled from a registry) is off:
/// the tests remove their containers and networks themselves.
/// </summary>
public sealed class PodmanService : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _socket;

    private PodmanService(Process process, string socket)
    {
        _process = process;
        _socket = socket;
    }

    /// <summary>The Docker API endpoint (<c>unix://…</c>).</summary>
    public Uri Endpoint => new("unix://" + _socket);

    public static async Task<PodmanService> StartAsync()
    {
        DotNet.Testcontainers.Configurations.TestcontainersSettings.ResourceReaperEnabled = false;
        var socket = Path.Combine(Path.GetTempPath(), $"moecloud-podman-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        var start = new ProcessStartInfo("podman") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "system", "service", "--time=0", "unix://" + socket })
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("podman system service did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var service = new PodmanService(process, socket);
        for (var i = 0; i < 200 && !File.Exists(socket); i++)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"podman system service exited with {process.ExitCode}");
            }

            await Task.Delay(50);
        }

        if (!File.Exists(socket))
        {
            await service.DisposeAsync();
            throw new TimeoutException($"podman system service made no socket at {socket} in 10 s");
        }

        return service;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        File.Delete(_socket);
    }
}
