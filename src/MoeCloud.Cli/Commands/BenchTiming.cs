using System.Diagnostics;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// Side-by-side timing: candidates are run in interleaved rounds (A, B, C, A, B, C …) so that noise from other
/// processes hits them alike; each round repeats a call until it has run for the round time; the result is the median
/// seconds per call over the rounds.
/// </summary>
internal static class BenchTiming
{
    /// <summary>Default of the benchmarks' <c>--warmup</c>: the longest warm-up, in seconds.</summary>
    public const double DefaultWarmupSeconds = 90;

    /// <summary>Help text of the benchmarks' <c>--warmup</c> option.</summary>
    public const string WarmupHelp = "<seconds> longest untimed warm-up before each timed arm (default 90; 0: none). Each arm runs untimed until it is steady (its median over 2 s windows stopped improving by 3%, and the JIT of this process and of every silo process compiled at most 20 methods in the window), so every arm is measured on optimised code: a fresh process runs its first calls on unoptimised code (tiered compilation), and silo processes on 2 shared cores took 20–70 s of steady steps to finish compiling";

    /// <summary>Length of one warm-up window.</summary>
    public static readonly TimeSpan WarmupWindow = TimeSpan.FromSeconds(2);

    /// <summary>The <c>--warmup</c> option of a benchmark.</summary>
    public static TimeSpan Warmup(Hosting.CliArgs args) => TimeSpan.FromSeconds(args.GetDouble("warmup", DefaultWarmupSeconds, 0, 600));

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

    public static double[] MedianSeconds(IReadOnlyList<Action> candidates, int rounds, double roundSeconds)
    {
        var samples = candidates.Select(_ => new List<double>()).ToArray();
        var calls = new int[candidates.Count];
        for (var c = 0; c < candidates.Count; c++)
        {
            candidates[c]();
            var sw = Stopwatch.StartNew();
            candidates[c]();
            calls[c] = Math.Max(1, (int)(roundSeconds / Math.Max(sw.Elapsed.TotalSeconds, 1e-7)));
        }

        for (var r = 0; r < rounds; r++)
        {
            for (var c = 0; c < candidates.Count; c++)
            {
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < calls[c]; i++)
                {
                    candidates[c]();
                }

                samples[c].Add(sw.Elapsed.TotalSeconds / calls[c]);
            }
        }

        return samples.Select(s => s.Order().ElementAt(s.Count / 2)).ToArray();
    }
}
