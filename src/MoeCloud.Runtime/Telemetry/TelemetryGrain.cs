using System.Runtime.InteropServices;
using MoeCloud.Abstractions;
using Orleans.Streams;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// Sums the telemetry deltas of every silo for one model. Activated by the deltas themselves (implicit stream
/// subscription). Memory: dense <c>[layers, experts]</c> and <c>[layers − 1, experts, experts]</c> counts plus at most
/// <see cref="SampleCap"/> sampled tokens.
/// </summary>
[ImplicitStreamSubscription(StreamNamespace)]
public sealed class TelemetryGrain : Grain, ITelemetryGrain
{
    /// <summary>The stream provider's name.</summary>
    public const string StreamProvider = "moecloud-telemetry";

    /// <summary>The stream namespace; the stream key is the model name.</summary>
    public const string StreamNamespace = "moecloud.telemetry";

    /// <summary>Most sampled tokens kept.</summary>
    public const int SampleCap = 16384;

    private Totals? _totals;
    private long _deltas;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stream = this.GetStreamProvider(StreamProvider).GetStream<TelemetryDelta>(StreamId.Create(StreamNamespace, this.GetPrimaryKeyString()));
        await stream.SubscribeAsync((delta, _) =>
        {
            Merge(delta);
            return Task.CompletedTask;
        });
    }

    /// <inheritdoc />
    public Task<TelemetryTotals?> GetTotals()
    {
        if (_totals is null)
        {
            return Task.FromResult<TelemetryTotals?>(null);
        }

        var t = _totals;
        return Task.FromResult<TelemetryTotals?>(new TelemetryTotals(
            this.GetPrimaryKeyString(), t.Layers, t.Experts, t.TopK, t.Tokens,
            MemoryMarshal.AsBytes(t.Load.AsSpan()).ToArray(),
            MemoryMarshal.AsBytes(t.Transitions.AsSpan()).ToArray(),
            MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(t.Sample)).ToArray(),
            t.Local,
            t.Remote,
            _deltas));
    }

    /// <inheritdoc />
    public Task Reset()
    {
        _totals = null;
        _deltas = 0;
        return Task.CompletedTask;
    }

    private void Merge(TelemetryDelta delta)
    {
        if (_totals is null || _totals.Layers != delta.Layers || _totals.Experts != delta.Experts || _totals.TopK != delta.TopK)
        {
            _totals = new Totals(delta.Layers, delta.Experts, delta.TopK);
        }

        var t = _totals;
        var load = MemoryMarshal.Cast<byte, long>(delta.Load);
        for (var i = 0; i < load.Length && i < t.Load.Length; i++)
        {
            t.Load[i] += load[i];
        }

        var cells = MemoryMarshal.Cast<byte, int>(delta.TransitionCells);
        var counts = MemoryMarshal.Cast<byte, long>(delta.TransitionCounts);
        for (var i = 0; i < cells.Length; i++)
        {
            if ((uint)cells[i] < (uint)t.Transitions.Length)
            {
                t.Transitions[cells[i]] += counts[i];
            }
        }

        var sample = MemoryMarshal.Cast<byte, short>(delta.SampleIds);
        var room = (SampleCap * t.Layers * t.TopK) - t.Sample.Count;
        if (room > 0)
        {
            t.Sample.AddRange(sample[..Math.Min(room, sample.Length)]);
        }

        t.Tokens += delta.Tokens;
        t.Local += delta.LocalDispatches;
        t.Remote += delta.RemoteDispatches;
        _deltas++;
    }

    private sealed class Totals(int layers, int experts, int topK)
    {
        public int Layers { get; } = layers;

        public int Experts { get; } = experts;

        public int TopK { get; } = topK;

        public long[] Load { get; } = new long[layers * experts];

        public long[] Transitions { get; } = new long[Math.Max(0, layers - 1) * experts * experts];

        public List<short> Sample { get; } = [];

        public long Tokens { get; set; }

        public long Local { get; set; }

        public long Remote { get; set; }
    }
}
