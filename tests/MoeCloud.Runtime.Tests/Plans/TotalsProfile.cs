using System.Runtime.InteropServices;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Runtime.Tests.Plans;

/// <summary>The telemetry totals read as a Placement profile (each sampled token its own sequence), to compare with a trace's profile.</summary>
internal static class TotalsProfile
{
    public static WorkloadProfile Of(TelemetryTotals totals)
    {
        var sampled = MemoryMarshal.Cast<byte, short>(totals.SampleIds).ToArray();
        return new WorkloadProfile("live", totals.Layers, totals.Experts, totals.TopK, MemoryMarshal.Cast<byte, long>(totals.Load).ToArray(),
            MemoryMarshal.Cast<byte, long>(totals.Transitions).ToArray(), new TokenSample(totals.Layers, totals.TopK, sampled, [.. Enumerable.Range(0, sampled.Length / (totals.Layers * totals.TopK))]));
    }
}
