using System.Runtime.InteropServices;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Tests.Telemetry;

public sealed class TelemetryRecorderTests
{
    [Fact]
    public void Drain_WhenADrainHoldsMoreTokensThanItsSample_SamplesEvenlyAcrossTheWholeDrain()
    {
        const int layers = 2, experts = 1000, tokens = 1000;
        var recorder = new TelemetryRecorder();
        // Token t is routed to expert t at layer 0, so a sampled routing names its token.
        for (var start = 0; start < tokens; start += 100)
        {
            var ids = Enumerable.Range(start, 100).SelectMany(t => new[] { t, (t + 1) % experts }).ToArray();
            recorder.Record("m", layers, experts, 1, 0, layers, 100, ids, local: 0, remote: 0);
        }

        var delta = Assert.Single(recorder.Drain("pod-0"));

        var sampled = MemoryMarshal.Cast<byte, short>(delta.SampleIds).ToArray().Where((_, i) => i % layers == 0).Select(x => (int)x).ToArray();
        Assert.InRange(sampled.Length, TelemetryRecorder.SamplePerDrain / 2, TelemetryRecorder.SamplePerDrain);
        var stride = sampled[1] - sampled[0];
        Assert.Equal(0, sampled[0]);
        Assert.Equal(Enumerable.Range(0, sampled.Length).Select(i => i * stride), sampled);
        Assert.True(sampled[^1] + stride >= tokens, $"the sample ends at token {sampled[^1]} of {tokens} (stride {stride})");
    }
}
