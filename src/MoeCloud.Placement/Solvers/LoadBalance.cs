using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>Expert-load balance predicted from a profile's loads, each expert's load split evenly over its replicas.</summary>
internal static class LoadBalance
{
    /// <summary>Mean over layers (with load) of max pod load / mean pod load.</summary>
    public static double PredictedImbalance(WorkloadProfile profile, int[][][] assignment, int pods)
    {
        var sum = 0.0;
        var counted = 0;
        var podLoad = new double[pods];
        for (var l = 0; l < profile.Layers; l++)
        {
            Array.Clear(podLoad);
            for (var e = 0; e < profile.Experts; e++)
            {
                var replicas = assignment[l][e];
                foreach (var p in replicas)
                {
                    podLoad[p] += (double)profile.LoadOf(l, e) / replicas.Length;
                }
            }

            var mean = podLoad.Average();
            if (mean > 0)
            {
                sum += podLoad.Max() / mean;
                counted++;
            }
        }

        return counted == 0 ? 1 : sum / counted;
    }
}
