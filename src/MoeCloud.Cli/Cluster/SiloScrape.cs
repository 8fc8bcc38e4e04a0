using System.Globalization;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>Reads one metric of every pod's <c>/metrics</c> (the silos' Prometheus text exposition) and adds it up.</summary>
internal static class SiloScrape
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(2) };

    /// <summary>The sum of every sample of <paramref name="metric"/> (any labels) over <paramref name="pods"/>.</summary>
    public static Task<double> Sum(IEnumerable<SiloEndpoint> pods, string metric, CancellationToken cancellationToken) =>
        Sum(pods, exposition => Sum(exposition, metric), cancellationToken);

    /// <summary>The sum over <paramref name="pods"/> of what <paramref name="read"/> makes of each pod's exposition.</summary>
    public static async Task<double> Sum(IEnumerable<SiloEndpoint> pods, Func<string, double> read, CancellationToken cancellationToken)
    {
        var total = 0.0;
        foreach (var pod in pods)
        {
            total += read(await Http.GetStringAsync(new Uri(pod.Ops, "/metrics"), cancellationToken));
        }

        return total;
    }

    /// <summary>
    /// The methods the JIT has compiled so far in this process and, when <paramref name="cluster"/>'s silos run in
    /// processes of their own, in theirs (<c>moecloud_silo_jit_compiled_methods</c>): the probe of
    /// <see cref="SteadyWarmup.WarmUp"/>. Embedded silos share this process, so only its count is read.
    /// </summary>
    public static Func<Task<double>> JitProbe(ILocalCluster? cluster, CancellationToken cancellationToken) => async () =>
    {
        double own = System.Runtime.JitInfo.GetCompiledMethodCount();
        return cluster is null || cluster.Mode == "embedded" ? own : own + await Sum(cluster.Endpoints, "moecloud_silo_jit_compiled_methods", cancellationToken);
    };

    /// <summary>The sum of every sample of <paramref name="metric"/> (any labels) in one exposition.</summary>
    internal static double Sum(string exposition, string metric)
    {
        var sum = 0.0;
        foreach (var line in exposition.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith(metric, StringComparison.Ordinal) && line.Length > metric.Length && line[metric.Length] is ' ' or '{'
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                sum += value;
            }
        }

        return sum;
    }
}
