using System.Runtime.InteropServices;
using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// Accumulates the routing this silo's runner sees — dispatches per (layer, expert), adjacent-layer slot transitions,
/// and a few whole token routings — until <see cref="Drain"/> hands them out as deltas. Thread-safe; cheap per call.
/// The routings sampled between two drains are spread evenly over all the whole-stack tokens of that interval (every
/// token, or every 2nd, 4th, … once there are more than <see cref="SamplePerDrain"/>), deterministically.
/// </summary>
public sealed class TelemetryRecorder
{
    /// <summary>Most tokens sampled per model between two drains (at least half as many once more than that many ran).</summary>
    public const int SamplePerDrain = 64;

    private readonly Dictionary<string, Accumulator> _models = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>
    /// Records one request step: <paramref name="ids"/> is <c>[tokens, stepLayers, topK]</c> for MoE layers
    /// <paramref name="firstLayer"/> .. <paramref name="firstLayer"/> + stepLayers − 1.
    /// </summary>
    public void Record(string model, int layers, int experts, int topK, int firstLayer, int stepLayers, int tokens, ReadOnlySpan<int> ids, long local, long remote)
    {
        lock (_gate)
        {
            if (!_models.TryGetValue(model, out var acc) || acc.Layers != layers || acc.Experts != experts || acc.TopK != topK)
            {
                acc = new Accumulator(layers, experts, topK);
                _models[model] = acc;
            }

            acc.Tokens += tokens;
            acc.Local += local;
            acc.Remote += remote;
            for (var t = 0; t < tokens; t++)
            {
                var row = ids.Slice(t * stepLayers * topK, stepLayers * topK);
                for (var s = 0; s < stepLayers; s++)
                {
                    var l = firstLayer + s;
                    for (var k = 0; k < topK; k++)
                    {
                        var e = row[(s * topK) + k];
                        acc.Load[(l * experts) + e]++;
                        if (s + 1 < stepLayers)
                        {
                            for (var k2 = 0; k2 < topK; k2++)
                            {
                                var cell = (((l * experts) + e) * experts) + row[((s + 1) * topK) + k2];
                                CollectionsMarshal.GetValueRefOrAddDefault(acc.Transitions, cell, out _)++;
                            }
                        }
                    }
                }

                if (stepLayers == layers)
                {
                    acc.Sample.Offer(row);
                }
            }
        }
    }

    /// <summary>Takes everything recorded so far, one delta per model, and starts over.</summary>
    public IReadOnlyList<TelemetryDelta> Drain(string silo)
    {
        List<(string Model, Accumulator Acc)> taken;
        lock (_gate)
        {
            taken = _models.Where(m => m.Value.Tokens > 0).Select(m => (m.Key, m.Value)).ToList();
            foreach (var (model, acc) in taken)
            {
                _models[model] = new Accumulator(acc.Layers, acc.Experts, acc.TopK);
            }
        }

        return taken.Select(t =>
        {
            var cells = t.Acc.Transitions.Keys.ToArray();
            var counts = cells.Select(c => t.Acc.Transitions[c]).ToArray();
            return new TelemetryDelta(
                t.Model, silo, t.Acc.Layers, t.Acc.Experts, t.Acc.TopK, t.Acc.Tokens,
                MemoryMarshal.AsBytes(t.Acc.Load.AsSpan()).ToArray(),
                MemoryMarshal.AsBytes(cells.AsSpan()).ToArray(),
                MemoryMarshal.AsBytes(counts.AsSpan()).ToArray(),
                MemoryMarshal.AsBytes(t.Acc.Sample.Ids).ToArray(),
                t.Acc.Local,
                t.Acc.Remote);
        }).ToArray();
    }

    private sealed class Accumulator(int layers, int experts, int topK)
    {
        public int Layers { get; } = layers;

        public int Experts { get; } = experts;

        public int TopK { get; } = topK;

        public long[] Load { get; } = new long[layers * experts];

        public Dictionary<int, long> Transitions { get; } = [];

        public StridedSample Sample { get; } = new(SamplePerDrain, layers * topK);

        public long Tokens { get; set; }

        public long Local { get; set; }

        public long Remote { get; set; }
    }
}
