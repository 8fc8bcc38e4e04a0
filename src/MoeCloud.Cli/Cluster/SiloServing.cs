using System.Diagnostics;
using System.Globalization;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// Whether pods served a model's requests, from their silos' Prometheus counters: request steps their runners ran
/// (<c>moecloud_silo_requests_total</c> with outcome <c>ok</c>, tokens homed there) plus tokens their expert kernels computed
/// (<c>moecloud_silo_kernel_tokens_total</c>, dispatches served there). A standby pod reads 0; warming a replica does
/// not count.
/// </summary>
internal static class SiloServing
{
    /// <summary>The sum of the counters of <paramref name="model"/> over <paramref name="pods"/>.</summary>
    public static Task<double> Total(IEnumerable<SiloEndpoint> pods, string model, CancellationToken cancellationToken) =>
        SiloScrape.Sum(pods, exposition => Sum(exposition, model), cancellationToken);

    /// <summary>
    /// Waits until the counters of <paramref name="pods"/> pass <paramref name="baseline"/> and returns when (seconds on
    /// <paramref name="clock"/>), or null after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<double?> WaitForMore(IReadOnlyList<SiloEndpoint> pods, string model, double baseline, Stopwatch clock, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = clock.Elapsed + timeout;
        while (true)
        {
            if (await Total(pods, model, cancellationToken) > baseline)
            {
                return clock.Elapsed.TotalSeconds;
            }

            if (clock.Elapsed >= deadline)
            {
                return null;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
        }
    }

    /// <summary>The sum of the two counters' samples labelled with <paramref name="model"/> in a Prometheus text exposition.</summary>
    internal static double Sum(string exposition, string model)
    {
        var label = $"model=\"{model}\"";
        var sum = 0.0;
        foreach (var line in exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var counted = line.StartsWith("moecloud_silo_kernel_tokens_total{", StringComparison.Ordinal)
                || (line.StartsWith("moecloud_silo_requests_total{", StringComparison.Ordinal) && line.Contains("outcome=\"ok\"", StringComparison.Ordinal));
            if (counted && line.Contains(label, StringComparison.Ordinal)
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                sum += value;
            }
        }

        return sum;
    }
}
