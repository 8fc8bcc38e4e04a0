using MoeCloud.Abstractions;
using MoeCloud.Contracts.Admin;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Gateway.Api;

/// <summary>The cluster's telemetry totals as the admin contract's <see cref="LiveProfile"/>, and that body as a Placement profile.</summary>
public static class LiveProfiles
{
    /// <summary>The live profile body of <paramref name="totals"/> (the counts' bytes are encoded as they are, little-endian).</summary>
    public static LiveProfile FromTotals(TelemetryTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        return LiveProfile.Encode(totals.Model, totals.Layers, totals.Experts, totals.TopK, (totals.Tokens, totals.LocalDispatches, totals.RemoteDispatches, totals.WindowTokens), totals.Load, totals.Transitions, totals.SampleIds);
    }

    /// <summary>The Placement library's profile of a checked live profile (each sampled token its own sequence unless the body says otherwise).</summary>
    public static WorkloadProfile ToWorkload(LiveProfileCounts counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return new WorkloadProfile($"live:{counts.Model}", counts.Layers, counts.Experts, counts.TopK, counts.Load, counts.Transitions, new TokenSample(counts.Layers, counts.TopK, counts.SampleIds, counts.SeqIds));
    }
}
