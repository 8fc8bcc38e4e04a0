using System.Runtime.InteropServices;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>Reads the cluster-wide telemetry window as a Placement <see cref="WorkloadProfile"/>, for re-placement on recent live traffic.</summary>
public static class LiveProfile
{
    /// <summary>
    /// The profile of <paramref name="totals"/>' window of recent traffic (<see cref="TelemetryTotals.WindowTokens"/>
    /// token-steps): dispatch counts and all-slot-pair transitions exactly as <see cref="WorkloadProfile.FromTrace"/>
    /// counts them over those tokens, and the sampled routings (each sampled token its own sequence).
    /// </summary>
    public static WorkloadProfile ToWorkloadProfile(TelemetryTotals totals)
    {
        ArgumentNullException.ThrowIfNull(totals);
        var load = MemoryMarshal.Cast<byte, long>(totals.Load).ToArray();
        var transitions = MemoryMarshal.Cast<byte, long>(totals.Transitions).ToArray();
        var ids = MemoryMarshal.Cast<byte, short>(totals.SampleIds).ToArray();
        var sampled = ids.Length / (totals.Layers * totals.TopK);
        var sample = new TokenSample(totals.Layers, totals.TopK, ids, Enumerable.Range(0, sampled).ToArray());
        return new WorkloadProfile($"live:{totals.Model}", totals.Layers, totals.Experts, totals.TopK, load, transitions, sample);
    }
}
