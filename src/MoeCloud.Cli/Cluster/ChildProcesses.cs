using System.Diagnostics;
using System.Globalization;

namespace MoeCloud.Cli.Cluster;

/// <summary>Stops processes this moectl started, by their pid: SIGTERM to all, a shared grace period, then kill.</summary>
internal static class ChildProcesses
{
    /// <summary>Stops <paramref name="processes"/> within about <paramref name="grace"/> and disposes them.</summary>
    public static async Task Stop(IReadOnlyList<Process> processes, TimeSpan grace)
    {
        foreach (var process in processes.Where(p => !p.HasExited))
        {
            await Terminate(process.Id);
        }

        var deadline = Stopwatch.GetTimestamp();
        foreach (var process in processes)
        {
            var left = grace - Stopwatch.GetElapsedTime(deadline);
            try
            {
                await process.WaitForExitAsync().WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
            catch (TimeoutException)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // It exited meanwhile.
                }
            }

            process.Dispose();
        }
    }

    /// <summary>Sends SIGTERM to <paramref name="pid"/> (a process this moectl started).</summary>
    public static async Task Terminate(int pid)
    {
        try
        {
            using var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false, RedirectStandardError = true });
            if (term is not null)
            {
                await term.WaitForExitAsync();
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No kill(1) here: the grace period passes and the process is killed.
        }
    }
}
