using System.Runtime.InteropServices;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// The telemetry of one model shape over a sliding window of recent tokens, with lifetime totals beside it. Deltas are
/// added whole to the newest of at most <see cref="Buckets"/> + 1 buckets of about a quarter window each; the oldest
/// bucket leaves once the newer ones hold at least the window. So the windowed load, transition counts and sample are
/// exactly those of the most recent <see cref="WindowTokens"/> token-steps, which is at least the window (once that much
/// traffic came) and less than the window plus one bucket (plus one delta: a delta is never split). Memory: per bucket
/// (at most <see cref="Buckets"/> + 1 in the window and one evicted spare kept for reuse) dense <c>[layers, experts]</c>
/// and <c>[layers − 1, experts, experts]</c> int64 counts and at most <see cref="SampleCap"/> / (<see cref="Buckets"/> + 1)
/// sampled tokens. Not thread-safe (the grain's turns serialise it).
/// </summary>
internal sealed class TelemetryWindow
{
    /// <summary>Buckets a full window spans.</summary>
    public const int Buckets = 4;

    /// <summary>Most sampled tokens the window keeps, over all its buckets (the Placement library's default sample size).</summary>
    public const int SampleCap = WorkloadProfile.DefaultSampleCap;

    private readonly int _window;
    private readonly long _bucketTokens;
    private readonly List<Bucket> _buckets = [];
    private Bucket? _spare;

    /// <summary>An empty window of <paramref name="windowTokens"/> tokens for one model shape.</summary>
    public TelemetryWindow(int layers, int experts, int topK, int windowTokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(experts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(topK);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowTokens, Buckets);
        (Layers, Experts, TopK, _window) = (layers, experts, topK, windowTokens);
        _bucketTokens = (windowTokens + Buckets - 1) / Buckets;
    }

    /// <summary>MoE layers.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Slots per token and layer.</summary>
    public int TopK { get; }

    /// <summary>Token-steps the windowed counts cover.</summary>
    public long WindowTokens { get; private set; }

    /// <summary>Token-steps added in the lifetime of this window.</summary>
    public long Tokens { get; private set; }

    /// <summary>Local dispatches added in the lifetime of this window.</summary>
    public long LocalDispatches { get; private set; }

    /// <summary>Remote dispatches added in the lifetime of this window.</summary>
    public long RemoteDispatches { get; private set; }

    /// <summary>Whether <paramref name="delta"/> has this window's shape.</summary>
    public bool Fits(TelemetryDelta delta) => delta.Layers == Layers && delta.Experts == Experts && delta.TopK == TopK;

    /// <summary>Adds one silo's delta (of this shape) to the newest bucket and lets old buckets leave the window.</summary>
    public void Add(TelemetryDelta delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (!Fits(delta))
        {
            throw new ArgumentException($"The delta's shape {delta.Layers}×{delta.Experts} top-{delta.TopK} is not the window's {Layers}×{Experts} top-{TopK}.", nameof(delta));
        }

        if (_buckets.Count == 0 || _buckets[^1].Tokens >= _bucketTokens)
        {
            _buckets.Add(_spare ?? new Bucket(Layers, Experts, TopK));
            _spare = null;
        }

        _buckets[^1].Add(delta);
        WindowTokens += delta.Tokens;
        Tokens += delta.Tokens;
        LocalDispatches += delta.LocalDispatches;
        RemoteDispatches += delta.RemoteDispatches;
        while (_buckets.Count > 1 && WindowTokens - _buckets[0].Tokens >= _window)
        {
            WindowTokens -= _buckets[0].Tokens;
            _spare = _buckets[0];
            _spare.Clear();
            _buckets.RemoveAt(0);
        }
    }

    /// <summary>The windowed dispatch counts alone.</summary>
    public TelemetryLoad ToLoad(string model)
    {
        var load = new long[Layers * Experts];
        foreach (var b in _buckets)
        {
            Sum(load, b.Load);
        }

        return new TelemetryLoad(model, Layers, Experts, TopK, WindowTokens, MemoryMarshal.AsBytes(load.AsSpan()).ToArray());
    }

    /// <summary>The wire totals: windowed counts and sample, lifetime token and dispatch counts.</summary>
    public TelemetryTotals ToTotals(string model, long deltas)
    {
        var load = new long[Layers * Experts];
        var transitions = new long[Math.Max(0, Layers - 1) * Experts * Experts];
        var sample = new List<short>();
        foreach (var b in _buckets)
        {
            Sum(load, b.Load);
            Sum(transitions, b.Transitions);
            sample.AddRange(b.Sample.Ids);
        }

        return new TelemetryTotals(
            model, Layers, Experts, TopK, Tokens,
            MemoryMarshal.AsBytes(load.AsSpan()).ToArray(),
            MemoryMarshal.AsBytes(transitions.AsSpan()).ToArray(),
            MemoryMarshal.AsBytes(CollectionsMarshal.AsSpan(sample)).ToArray(),
            LocalDispatches,
            RemoteDispatches,
            deltas,
            WindowTokens);
    }

    private static void Sum(long[] into, long[] add)
    {
        for (var i = 0; i < into.Length; i++)
        {
            into[i] += add[i];
        }
    }

    private sealed class Bucket(int layers, int experts, int topK)
    {
        private readonly int _width = layers * topK;

        public long[] Load { get; } = new long[layers * experts];

        public long[] Transitions { get; } = new long[Math.Max(0, layers - 1) * experts * experts];

        public StridedSample Sample { get; } = new(SampleCap / (Buckets + 1), layers * topK);

        public long Tokens { get; private set; }

        public void Add(TelemetryDelta delta)
        {
            var load = MemoryMarshal.Cast<byte, long>(delta.Load);
            for (var i = 0; i < load.Length && i < Load.Length; i++)
            {
                Load[i] += load[i];
            }

            var cells = MemoryMarshal.Cast<byte, int>(delta.TransitionCells);
            var counts = MemoryMarshal.Cast<byte, long>(delta.TransitionCounts);
            for (var i = 0; i < cells.Length && i < counts.Length; i++)
            {
                if ((uint)cells[i] < (uint)Transitions.Length)
                {
                    Transitions[cells[i]] += counts[i];
                }
            }

            var ids = MemoryMarshal.Cast<byte, short>(delta.SampleIds);
            for (var t = 0; t + _width <= ids.Length; t += _width)
            {
                Sample.Offer(ids.Slice(t, _width));
            }

            Tokens += delta.Tokens;
        }

        public void Clear()
        {
            Array.Clear(Load);
            Array.Clear(Transitions);
            Sample.Clear();
            Tokens = 0;
        }
    }
}
