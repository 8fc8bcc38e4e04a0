using System.Security.Cryptography;
using MoeCloud.Model.Traces;

namespace MoeCloud.Placement.Profiles;

/// <summary>
/// What the solvers and the speculative predictor know about a workload:
/// <list type="bullet">
/// <item><see cref="Load"/>: dispatches per (layer, expert), flat <c>[layers, experts]</c> (every slot counted).</item>
/// <item><see cref="Transitions"/>: adjacent-layer transition counts, flat <c>[layers - 1, experts, experts]</c>:
/// entry (l, e, f) counts the (slot at layer l = e, slot at layer l + 1 = f) pairs of the same token, all k × k slot
/// pairs counted. Null for a load-only profile.</item>
/// <item><see cref="Sample"/>: a bounded sample of whole token routings, the token co-activation statistic of the
/// <c>ilp</c> solver (it clusters tokens and experts jointly). Empty for a load-only profile.</item>
/// </list>
/// Profiles are mergeable (<see cref="Merge"/>): counts add up and samples are concatenated and thinned to the cap, so
/// live telemetry can be folded in batch by batch.
/// </summary>
public sealed class WorkloadProfile
{
    /// <summary>Default cap on sampled tokens.</summary>
    public const int DefaultSampleCap = 16384;

    /// <summary>Creates a profile; throws <see cref="ArgumentException"/> on inconsistent shapes or negative counts.</summary>
    public WorkloadProfile(string name, int layers, int experts, int topK, long[] load, long[]? transitions, TokenSample sample)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(sample);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(experts);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(topK);
        if (load.LongLength != (long)layers * experts)
        {
            throw new ArgumentException($"load holds {load.LongLength} values, [{layers}, {experts}] needs {(long)layers * experts}.", nameof(load));
        }

        if (transitions is not null && transitions.LongLength != (long)(layers - 1) * experts * experts)
        {
            throw new ArgumentException($"transitions hold {transitions.LongLength} values, [{layers - 1}, {experts}, {experts}] needs {(long)(layers - 1) * experts * experts}.", nameof(transitions));
        }

        if (Array.Exists(load, c => c < 0) || (transitions is not null && Array.Exists(transitions, c => c < 0)))
        {
            throw new ArgumentException("profile counts must not be negative.", nameof(load));
        }

        if (sample.Tokens > 0 && (sample.Layers != layers || sample.TopK != topK))
        {
            throw new ArgumentException($"the token sample is [{sample.Layers} layers, top-{sample.TopK}], the profile [{layers} layers, top-{topK}].", nameof(sample));
        }

        Name = name;
        Layers = layers;
        Experts = experts;
        TopK = topK;
        Load = load;
        Transitions = transitions;
        Sample = sample;
    }

    /// <summary>Where the profile came from (a trace name, a dump file).</summary>
    public string Name { get; }

    /// <summary>MoE layers.</summary>
    public int Layers { get; }

    /// <summary>Routed experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Slots per token and layer.</summary>
    public int TopK { get; }

    /// <summary>Dispatches per (layer, expert), flat <c>[layers, experts]</c>.</summary>
    public long[] Load { get; }

    /// <summary>Adjacent-layer transition counts, flat <c>[layers - 1, experts, experts]</c>, or null (load-only).</summary>
    public long[]? Transitions { get; }

    /// <summary>Sampled token routings (empty for a load-only profile).</summary>
    public TokenSample Sample { get; }

    /// <summary>True when only loads are known (an SGLang count dump): solvers can then optimise balance only.</summary>
    public bool IsLoadOnly => Transitions is null;

    /// <summary>Total dispatches.</summary>
    public long Dispatches => Load.Sum();

    /// <summary>Load of one expert.</summary>
    public long LoadOf(int layer, int expert) => Load[(layer * Experts) + expert];

    /// <summary>Builds a profile from every token of <paramref name="trace"/> (sample capped at <paramref name="sampleCap"/>).</summary>
    public static WorkloadProfile FromTrace(RoutingTrace trace, int sampleCap = DefaultSampleCap)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCap);
        int layers = trace.Layers, experts = trace.Experts, k = trace.TopK;
        var load = ExpertLoad.FromTrace(trace).Counts;
        var transitions = new long[(long)Math.Max(layers - 1, 0) * experts * experts];
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l + 1 < layers; l++)
            {
                var from = trace.Slots(t, l);
                var to = trace.Slots(t, l + 1);
                var layerBase = (long)l * experts * experts;
                foreach (var e in from)
                {
                    var row = layerBase + (e * experts);
                    foreach (var f in to)
                    {
                        transitions[row + f]++;
                    }
                }
            }
        }

        return new WorkloadProfile(trace.Manifest.Name, layers, experts, k, load, transitions, TokenSample.FromTrace(trace, sampleCap));
    }

    /// <summary>A load-only profile (from an SGLang count dump): no transitions, no token sample.</summary>
    public static WorkloadProfile FromLoad(string name, ExpertLoad load, int topK)
    {
        ArgumentNullException.ThrowIfNull(load);
        return new WorkloadProfile(name, load.Layers, load.Experts, topK, (long[])load.Counts.Clone(), null, TokenSample.Empty(load.Layers, topK));
    }

    /// <summary>
    /// The sum of two profiles of the same shape: loads and transitions add (a load-only side makes the result
    /// load-only), samples are concatenated and thinned evenly to <paramref name="sampleCap"/>.
    /// </summary>
    public static WorkloadProfile Merge(WorkloadProfile a, WorkloadProfile b, int sampleCap = DefaultSampleCap)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Layers != b.Layers || a.Experts != b.Experts || a.TopK != b.TopK)
        {
            throw new ArgumentException($"cannot merge a [{a.Layers} layers x {a.Experts} experts, top-{a.TopK}] profile with a [{b.Layers} x {b.Experts}, top-{b.TopK}] one.", nameof(b));
        }

        var load = a.Load.Zip(b.Load, (x, y) => x + y).ToArray();
        var transitions = a.Transitions is null || b.Transitions is null ? null : a.Transitions.Zip(b.Transitions, (x, y) => x + y).ToArray();
        var sample = transitions is null ? TokenSample.Empty(a.Layers, a.TopK) : TokenSample.Concat(a.Sample, b.Sample, sampleCap);
        return new WorkloadProfile($"{a.Name}+{b.Name}", a.Layers, a.Experts, a.TopK, load, transitions, sample);
    }

    /// <summary>A stable fingerprint of the counts (SHA-256 of shape, load and transitions; first 16 hex digits).</summary>
    public string Fingerprint()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[8];
        void Add(long value)
        {
            BitConverter.TryWriteBytes(buffer, value);
            hash.AppendData(buffer);
        }

        Add(Layers);
        Add(Experts);
        Add(TopK);
        foreach (var c in Load)
        {
            Add(c);
        }

        foreach (var c in Transitions ?? [])
        {
            Add(c);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}
