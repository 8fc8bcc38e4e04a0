using MoeCloud.Model.Traces;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>Starts the local cluster of either mode (<c>embedded</c> or <c>processes</c>) the commands and benchmarks run on.</summary>
public static class LocalClusters
{
    /// <summary>
    /// Starts <paramref name="silos"/> silos serving <paramref name="models"/>: in this process (<c>embedded</c>) or one
    /// process each with Redis membership (<c>processes</c>). With <paramref name="rehomeProfiles"/> (model → profile
    /// trace directory) the silos re-home tokens between layers. <paramref name="cpus"/> (processes only) is each silo
    /// process's CPU quota (<see cref="CpuQuota"/>). With <paramref name="dashboardKeySha256"/> (the SHA-256 of each
    /// admin key) every silo serves the Orleans Dashboard on its ops port behind those keys (<see cref="OpsDashboard"/>).
    /// With <paramref name="microBatches"/> above 1 every silo cuts its steps into that many micro-batches (two-batch
    /// overlap, <see cref="MoeCloudSiloOptions.MicroBatches"/>).
    /// </summary>
    public static async Task<ILocalCluster> Start(string mode, int silos, IReadOnlyDictionary<string, string> models, IReadOnlyDictionary<string, string>? rehomeProfiles, CancellationToken ct, bool quiet = false, double? cpus = null, IReadOnlyList<string>? dashboardKeySha256 = null, int microBatches = 1) => mode switch
    {
        "embedded" when cpus is not null => throw new ArgumentException("a CPU quota per silo needs silo processes (mode processes)", nameof(cpus)),
        "embedded" => await EmbeddedCluster.Start(silos, models, quiet ? EmbeddedCluster.QuietLogging : null, o =>
        {
            o.MicroBatches = microBatches;
            if (dashboardKeySha256 is { Count: > 0 })
            {
                o.Dashboard = true;
                o.AdminKeySha256 = [.. dashboardKeySha256];
            }

            if (rehomeProfiles is { Count: > 0 })
            {
                o.Rehome = true;
                foreach (var (model, dir) in rehomeProfiles)
                {
                    o.ProfileTraces[model] = dir;
                }
            }
        }, ct),
        "processes" => await ProcessCluster.Start(silos, models, TextWriter.Null, ct, rehomeProfiles, cpus: cpus, dashboardKeySha256: dashboardKeySha256, microBatches: microBatches),
        _ => throw new ArgumentException($"unknown cluster mode '{mode}' (embedded or processes)", nameof(mode)),
    };

    /// <summary>Writes <paramref name="trace"/> as a profile trace directory under the moectl home and returns it.</summary>
    public static string SaveProfile(string model, RoutingTrace trace)
    {
        var dir = Path.Combine(DemoDeployment.Home, "profiles", $"{model}-{Guid.NewGuid():N}");
        TraceDirectory.Write(dir, trace);
        return dir;
    }
}
