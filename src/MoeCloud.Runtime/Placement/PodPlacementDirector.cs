using System.Globalization;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using Orleans.Runtime.Placement;

namespace MoeCloud.Runtime.Placement;

/// <summary>
/// Puts each expert replica on the silo of the pod its key names. Synchronous: reads the membership snapshot the silo
/// already holds (silo name → pod) and makes no grain call. When the named pod has no live silo — it has not joined
/// yet, or it left — the replica goes to a deterministic fallback (the compatible silos sorted by address, indexed by
/// the pod number) so that the request is still served; a warning is logged.
/// </summary>
public sealed partial class PodPlacementDirector(IClusterMembershipService membership, ILogger<PodPlacementDirector> logger) : IPlacementDirector
{
    /// <inheritdoc />
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var compatible = context.GetCompatibleSilos(target);
        if (compatible.Length == 0)
        {
            throw new OrleansException($"No silo can host {target.GrainIdentity}: the cluster has no compatible silo.");
        }

        var key = target.GrainIdentity.Key.ToString();
        if (!TryGetPod(key, out var pod))
        {
            throw new OrleansException($"Grain key '{key}' names no pod: expected {{model}}/{{layer}}/{{expert}}@{{pod}} or a pod index.");
        }

        var snapshot = membership.CurrentSnapshot;
        foreach (var silo in compatible)
        {
            if (snapshot.Members.TryGetValue(silo, out var member) && PodNames.PodOfSiloName(member.Name) == pod)
            {
                return Task.FromResult(silo);
            }
        }

        var ordered = compatible.OrderBy(s => s.ToString(), StringComparer.Ordinal).ToArray();
        var fallback = ordered[pod % ordered.Length];
        LogPodMissing(logger, key, pod, fallback.ToString());
        return Task.FromResult(fallback);
    }

    /// <summary>The pod a grain key names: a replica key's pod, or a bare pod index.</summary>
    public static bool TryGetPod(string key, out int pod)
    {
        if (ExpertReplicaKey.TryParse(key, out var replica))
        {
            pod = replica.Pod;
            return true;
        }

        return int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out pod);
    }

    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning, Message = "Pod {Pod} named by {Key} has no live silo; placing on {Fallback} instead")]
    private static partial void LogPodMissing(ILogger logger, string key, int pod, string fallback);
}
