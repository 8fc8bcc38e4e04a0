using System.ComponentModel;
using System.Diagnostics;

namespace MoeCloud.Cli.Cluster;

/// <summary>The podman command line, run as a child process; each call is bounded.</summary>
internal static class Podman
{
    /// <summary>How long one podman command may take (a container start on a loaded machine takes seconds).</summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Runs <c>podman <paramref name="args"/></c>; its trimmed standard output. Throws with its standard error when it exits non-zero.</summary>
    public static async Task<string> Run(IReadOnlyList<string> args, CancellationToken ct)
    {
        var (code, stdout, stderr) = await TryRun(args, ct);
        return code == 0
            ? stdout
            : throw new InvalidOperationException($"podman {string.Join(' ', args.Take(3))} … exited with {code}: {stderr.Trim()}");
    }

    /// <summary>Runs <c>podman <paramref name="args"/></c>; its exit code (-1 when podman cannot start), standard output (trimmed) and error.</summary>
    public static Task<(int Code, string Stdout, string Stderr)> TryRun(IReadOnlyList<string> args, CancellationToken ct) => TryRunTool("podman", args, ct);

    /// <summary>Runs <paramref name="file"/> (podman, ip) with <paramref name="args"/>; its exit code (-1 when it cannot start), standard output (trimmed) and error.</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> TryRunTool(string file, IReadOnlyList<string> args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(args);
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        }
        catch (Win32Exception e)
        {
            return (-1, "", e.Message);
        }

        using (process)
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
            bound.CancelAfter(CommandTimeout);
            var stdout = process.StandardOutput.ReadToEndAsync(bound.Token);
            var stderr = process.StandardError.ReadToEndAsync(bound.Token);
            try
            {
                await process.WaitForExitAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                if (ct.IsCancellationRequested)
                {
                    throw;
                }

                throw new TimeoutException($"{file} {string.Join(' ', args.Take(3))} … took more than {CommandTimeout.TotalSeconds:F0} s");
            }

            return (process.ExitCode, (await stdout).Trim(), await stderr);
        }
    }
}
