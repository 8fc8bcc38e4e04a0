using System.Diagnostics;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// Runs work untimed until the processes doing it are steady: a fresh process runs its first calls on unoptimised code
/// (tiered compilation), so the benchmarks warm each arm with it before they time it, <c>moectl up</c> warms its data
/// path before it prints its addresses, and the local scaler warms the standbys it starts.
/// </summary>
internal static class SteadyWarmup
{
    /// <summary>Length of one warm-up window.</summary>
    public static readonly TimeSpan WarmupWindow = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="run"/> (its argument counts the runs) untimed in windows of <see cref="WarmupWindow"/> until
    /// it is steady or <paramref name="limit"/> has passed; returns the time it took. Steady: from the third window on,
    /// a window's median run is no more than 3% below the better of the two windows before it, and, with
    /// <paramref name="jitted"/> (the methods the processes doing the work have compiled so far), the JIT compiled at
    /// most <see cref="QuietMethods"/> methods in the window: its medians alone can level off for a while before the
    /// JIT has finished with the hot code.
    /// </summary>
    public static async Task<TimeSpan> WarmUp(TimeSpan limit, Func<int, Task> run, Func<Task<double>>? jitted = null)
    {
        var started = Stopwatch.GetTimestamp();
        if (limit <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var medians = new List<double>();
        var compiled = jitted is null ? 0 : await jitted();
        for (var i = 0; Stopwatch.GetElapsedTime(started) < limit;)
        {
            var window = new List<double>();
            var opened = Stopwatch.GetTimestamp();
            while (Stopwatch.GetElapsedTime(opened) < WarmupWindow && Stopwatch.GetElapsedTime(started) < limit)
            {
                var one = Stopwatch.GetTimestamp();
                await run(i++);
                window.Add(Stopwatch.GetElapsedTime(one).TotalMilliseconds);
            }

            medians.Add(window.Order().ElementAt(window.Count / 2));
            var quiet = true;
            if (jitted is not null)
            {
                var now = await jitted();
                quiet = now - compiled <= QuietMethods;
                compiled = now;
            }

            if (quiet && IsSteady(medians))
            {
                break;
            }
        }

        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Methods the JIT may compile in a window that <see cref="WarmUp"/> still counts as quiet.</summary>
    public const double QuietMethods = 20;

    /// <summary>The rule of <see cref="WarmUp"/> on the windows' medians so far.</summary>
    internal static bool IsSteady(IReadOnlyList<double> medians) =>
        medians.Count >= 3 && medians[^1] >= 0.97 * Math.Min(medians[^2], medians[^3]);
}
