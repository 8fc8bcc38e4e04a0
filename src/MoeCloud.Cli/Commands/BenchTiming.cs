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

    /// <summary>The <c>--warmup</c> option of a benchmark.</summary>
    public static TimeSpan Warmup(Hosting.CliArgs args) => TimeSpan.FromSeconds(args.GetDouble("warmup", DefaultWarmupSeconds, 0, 600));

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
