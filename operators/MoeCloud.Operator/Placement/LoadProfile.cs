using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Operator.Placement;

/// <summary>Dispatches per expert (<c>Load[layer][expert]</c>), from a profile ConfigMap or the cluster's live telemetry.</summary>
public sealed class LoadProfile
{
    public LoadProfile(double[][] load)
    {
        ArgumentNullException.ThrowIfNull(load);
        if (load.Length == 0 || load.Any(l => l is null || l.Length != load[0].Length || l.Length == 0))
        {
            throw new ArgumentException("a load profile needs at least one layer, and every layer the same non-zero number of experts", nameof(load));
        }

        if (load.SelectMany(l => l).Any(x => !double.IsFinite(x) || x < 0))
        {
            throw new ArgumentException("expert loads must be finite and non-negative", nameof(load));
        }

        Load = load;
    }

    public double[][] Load { get; }

    /// <summary>
    /// The live profile with co-activation (transitions and sampled token routings) when the cluster serves it; the
    /// library's ilp and incremental solvers need it. Null for a load-only profile.
    /// </summary>
    public WorkloadProfile? Observed { get; init; }

    /// <summary>Whether <see cref="Observed"/> carries sampled token routings.</summary>
    public bool HasCoActivation => Observed is { IsLoadOnly: false, Sample.Tokens: > 0 };

    /// <summary>
    /// The profile of a live profile document: its loads, and its co-activation when present. Throws
    /// <see cref="ArgumentException"/> (or <see cref="FormatException"/> for bad base64) when it is inconsistent.
    /// </summary>
    public static LoadProfile FromLive(double[][] load, int? topK, string? transitions, string? sampleIds, int[]? sampleSeqIds)
    {
        var profile = new LoadProfile(load);
        if (transitions is null && sampleIds is null)
        {
            return profile;
        }

        if (topK is not > 0)
        {
            throw new ArgumentException("a profile with transitions or a sample needs topK");
        }

        int layers = profile.Layers, experts = profile.Experts, k = topK.Value;
        var counts = transitions is null ? null : Decode<long>(transitions, "transitions");
        var ids = sampleIds is null ? [] : Decode<short>(sampleIds, "sample.expertIds");
        var seqIds = sampleSeqIds ?? [];
        if (ids.Length != seqIds.Length * layers * k)
        {
            throw new ArgumentException($"sample.expertIds holds {ids.Length} ids, {seqIds.Length} tokens x {layers} layers x top-{k} need {seqIds.Length * layers * k}");
        }

        if (Array.Exists(ids, e => e < 0 || e >= experts))
        {
            throw new ArgumentException($"sample.expertIds names an expert outside 0..{experts - 1}");
        }

        var whole = profile.ToWorkload(k, "live");
        return new LoadProfile(load)
        {
            Observed = new WorkloadProfile("live", layers, experts, k, whole.Load, counts, new TokenSample(layers, k, ids, seqIds)),
        };
    }

    private static T[] Decode<T>(string base64, string field)
        where T : unmanaged
    {
        var bytes = Convert.FromBase64String(base64);
        if (bytes.Length % System.Runtime.CompilerServices.Unsafe.SizeOf<T>() != 0)
        {
            throw new ArgumentException($"{field} is not a whole number of {typeof(T).Name} values");
        }

        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    public int Layers => Load.Length;

    public int Experts => Load[0].Length;

    public static LoadProfile Uniform(int layers, int experts) =>
        new(Enumerable.Range(0, layers).Select(_ => Enumerable.Repeat(1.0, experts).ToArray()).ToArray());

    /// <summary>Throws <see cref="ArgumentException"/> unless the profile matches the model's shape.</summary>
    public void EnsureShape(int layers, int experts)
    {
        if (Layers != layers || Experts != experts)
        {
            throw new ArgumentException($"the load profile is {Layers} layers x {Experts} experts but the model has {layers} x {experts}");
        }
    }

    /// <summary>
    /// The Placement library's load-only profile of these loads (no co-activation samples). Whole-number loads are kept
    /// as they are; fractional ones (rates) are scaled so that the largest becomes 10^6 and rounded, which keeps their
    /// proportions for the solvers.
    /// </summary>
    public WorkloadProfile ToWorkload(int topK, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        if (Observed is { } observed && observed.TopK == topK)
        {
            return observed;
        }

        var values = Load.SelectMany(l => l).ToArray();
        var max = values.Max();
        var whole = values.All(x => x == Math.Floor(x)) && max <= 1e15;
        var scale = whole || max == 0 ? 1.0 : 1e6 / max;
        var counts = values.Select(x => (long)Math.Round(x * scale)).ToArray();
        return WorkloadProfile.FromLoad(name, new ExpertLoad(Layers, Experts, counts), topK);
    }
}
