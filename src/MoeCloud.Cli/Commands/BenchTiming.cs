using System.Diagnostics;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// Side-by-side timing: candidates are run in interleaved rounds (A, B, C, A, B, C …) so that noise from other
/// processes hits them alike; each round repeats a call until it has run for the round time; the result is the median
/// seconds per call over the rounds.
/// </summary>
internal static class BenchTiming
{
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
