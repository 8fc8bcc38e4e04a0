using MoeCloud.Contracts.Admin;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Operator.Placement;

/// <summary>The operator's inputs to planning as the Placement library's <see cref="WorkloadProfile"/>: the profile ConfigMap's loads, the cluster's live profile, or no load at all.</summary>
public static class PlanningProfiles
{
    /// <summary>Equal load on every expert (no profile to fit to).</summary>
    public static WorkloadProfile Uniform(int layers, int experts, int topK) =>
        WorkloadProfile.FromLoad("uniform", new ExpertLoad(layers, experts, Enumerable.Repeat(1L, layers * experts).ToArray()), topK);

    /// <summary>
    /// A load-only profile of <c>load[layer][expert]</c> (a profile ConfigMap). Whole-number loads are kept as they are;
    /// fractional ones (rates) are scaled so that the largest becomes 10^6 and rounded, which keeps their proportions.
    /// Throws <see cref="ArgumentException"/> unless the loads are <c>[layers][experts]</c>, finite and non-negative.
    /// </summary>
    public static WorkloadProfile FromLoads(string name, double[][] load, int layers, int experts, int topK)
    {
        ArgumentNullException.ThrowIfNull(load);
        if (load.Length != layers || Array.Exists(load, l => l is null || l.Length != experts))
        {
            throw new ArgumentException($"the load profile must be [{layers} layers][{experts} experts] as the model is (got {load.Length} layers of {string.Join("/", load.Select(l => l?.Length ?? 0).Distinct())})");
        }

        var values = load.SelectMany(l => l).ToArray();
        if (Array.Exists(values, x => !double.IsFinite(x) || x < 0))
        {
            throw new ArgumentException("expert loads must be finite and non-negative");
        }

        var max = values.Max();
        var whole = values.All(x => x == Math.Floor(x)) && max <= 1e15;
        var scale = whole || max == 0 ? 1.0 : 1e6 / max;
        return WorkloadProfile.FromLoad(name, new ExpertLoad(layers, experts, [.. values.Select(x => (long)Math.Round(x * scale))]), topK);
    }

    /// <summary>
    /// The library profile of the cluster's live profile, co-activation included; null when its shape is not the model's
    /// (the cluster serves another version of it). Throws <see cref="FormatException"/> naming the field when it is malformed.
    /// </summary>
    public static WorkloadProfile? FromLive(LiveProfile live, int layers, int experts)
    {
        ArgumentNullException.ThrowIfNull(live);
        if (live.Layers != layers || live.Experts != experts)
        {
            return null;
        }

        var c = live.Decode();
        return new WorkloadProfile($"live:{c.Model}", c.Layers, c.Experts, c.TopK, c.Load, c.Transitions, new TokenSample(c.Layers, c.TopK, c.SampleIds, c.SeqIds));
    }

    /// <summary>Whether <paramref name="profile"/> carries sampled token routings (what the ilp and incremental solvers need).</summary>
    public static bool HasCoActivation(this WorkloadProfile profile) => profile is { IsLoadOnly: false, Sample.Tokens: > 0 };
}
