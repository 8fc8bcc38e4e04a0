using System.Diagnostics;
using System.Globalization;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Solvers;

/// <summary>Whether to apply an incremental plan.</summary>
public enum ReplacementDecision
{
    /// <summary>The candidate does not beat the live plan by the threshold: keep the live plan.</summary>
    Keep,

    /// <summary>The candidate beats the live plan by at least the threshold.</summary>
    Apply,
}

/// <summary>An incremental re-placement: the candidate, its moves, and the predicted gain.</summary>
/// <param name="Decision">Keep or apply.</param>
/// <param name="Candidate">The best plan found within the move budget (version = live + 1).</param>
/// <param name="Moves">Replicas the candidate creates that the live plan lacks.</param>
/// <param name="LiveRemoteFraction">Simulated remote fraction of the live plan on the new profile's sample.</param>
/// <param name="CandidateRemoteFraction">The same for the candidate.</param>
/// <param name="Note">A line of detail.</param>
public sealed record IncrementalResult(ReplacementDecision Decision, PlacementPlan Candidate, int Moves, double LiveRemoteFraction, double CandidateRemoteFraction, string Note)
{
    /// <summary>Predicted gain: live remote fraction − candidate remote fraction.</summary>
    public double Gain => LiveRemoteFraction - CandidateRemoteFraction;
}

/// <summary>
/// Incremental re-placement (DESIGN.md §3): given the live plan and a new profile, the best plan that moves at most M
/// replicas. It keeps the live plan's shape (replica counts per expert, slots per pod and layer, capacities), homes
/// the new profile's sampled tokens on the live plan, then re-places layers one at a time with CP-SAT under the
/// remaining move budget, layers with the largest unconstrained gain first. Gains are scored by the simulator
/// (speculative homes) on the new profile's sample; a candidate that does not beat the live plan by the threshold is
/// reported as <see cref="ReplacementDecision.Keep"/>.
/// </summary>
public static class IncrementalPlanner
{
    /// <summary>Plans the re-placement; throws <see cref="ArgumentException"/> when the plan and profile disagree.</summary>
    public static IncrementalResult Plan(PlacementPlan live, WorkloadProfile profile, int maxMoves, double threshold, IlpOptions? options = null, int seed = 1, TimeProvider? time = null, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(profile);
        options ??= new IlpOptions();
        options.Validate();
        if (maxMoves < 0)
        {
            throw new ArgumentException($"the move budget must not be negative (got {maxMoves}).", nameof(maxMoves));
        }

        if (!double.IsFinite(threshold) || threshold < 0)
        {
            throw new ArgumentException($"the gain threshold must be a non-negative number (got {threshold}).", nameof(threshold));
        }

        if (live.Layers != profile.Layers || live.Experts != profile.Experts)
        {
            throw new ArgumentException($"the live plan is [{live.Layers} layers x {live.Experts} experts], the profile [{profile.Layers} x {profile.Experts}].", nameof(profile));
        }

        if (profile.IsLoadOnly || profile.Sample.Tokens == 0)
        {
            throw new ArgumentException($"profile '{profile.Name}' is load-only: incremental re-placement scores plans by simulation and needs a routing trace.", nameof(profile));
        }

        var watch = Stopwatch.StartNew();
        int layers = live.Layers, experts = live.Experts, pods = live.PodCount;
        var liveAssignment = live.ToAssignment();
        var assignment = live.ToAssignment();
        var (homes, _) = TokenHomes.Assign(profile.Sample, liveAssignment, pods, options.HomeSlack, options.FirstLayerHomeWeight);
        var layerData = Enumerable.Range(0, layers).Select(l => LayerShape(live, profile, l, options.LoadSlack)).ToArray();
        var affinity = Enumerable.Range(0, layers).Select(l => TokenHomes.Affinity(profile.Sample, homes, l, experts, pods).Select(a => (long)a).ToArray()).ToArray();
        var gains = new (int Layer, long Gain)[layers];
        for (var l = 0; l < layers; l++)
        {
            var d = layerData[l];
            var free = LayerSubproblem.Solve(affinity[l], d.Weight, d.Counts, d.Slots, d.Cap, liveAssignment[l], seed + l, 0.2, options.Workers, maxMoves);
            gains[l] = (l, free is null ? 0 : free.Objective - Score(affinity[l], liveAssignment[l], pods));
        }

        var budget = maxMoves;
        foreach (var (l, gain) in gains.OrderByDescending(g => g.Gain).ThenBy(g => g.Layer))
        {
            if (budget == 0 || gain <= 0)
            {
                break;
            }

            var d = layerData[l];
            var outcome = LayerSubproblem.Solve(affinity[l], d.Weight, d.Counts, d.Slots, d.Cap, liveAssignment[l], seed + l, 0.2, options.Workers, budget);
            if (outcome is null || outcome.Objective <= Score(affinity[l], liveAssignment[l], pods))
            {
                continue;
            }

            var moved = Moves(liveAssignment[l], outcome.Assignment);
            assignment[l] = outcome.Assignment;
            budget -= moved;
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"layer {l}: {moved} move(s), {budget} left"));
        }

        var info = live.Info with
        {
            Version = live.Info.Version + 1,
            CreatedUtc = (time ?? TimeProvider.System).GetUtcNow(),
            ProfileName = profile.Name,
            ProfileFingerprint = profile.Fingerprint(),
            Seed = seed,
            Solve = new SolveSummary(SolveStatus.Feasible, 0, null, watch.Elapsed.TotalSeconds, $"incremental from version {live.Info.Version}, at most {maxMoves} move(s)"),
        };
        var candidate = new PlacementPlan(info, live.Pods, assignment);
        var model = TransitionModel.FromProfile(profile);
        var liveRemote = Simulator.Run(live, profile.Sample, new SimulationOptions(), model).RemoteFraction;
        var predicted = Simulator.Run(candidate, profile.Sample, new SimulationOptions(), model);
        candidate = candidate.WithInfo(info with { Predicted = predicted });
        var moves = live.MovesTo(candidate);
        var decision = liveRemote - predicted.RemoteFraction >= threshold && moves > 0 ? ReplacementDecision.Apply : ReplacementDecision.Keep;
        var note = string.Create(CultureInfo.InvariantCulture, $"{moves} move(s); remote fraction {liveRemote:F4} -> {predicted.RemoteFraction:F4} (threshold {threshold:F4})");
        return new IncrementalResult(decision, candidate, moves, liveRemote, predicted.RemoteFraction, note);
    }

    private static (int[] Counts, int[] Slots, long[] Weight, long Cap) LayerShape(PlacementPlan live, WorkloadProfile profile, int layer, double slack)
    {
        int experts = live.Experts, pods = live.PodCount;
        var counts = Enumerable.Range(0, experts).Select(e => live.PodsOf(layer, e).Length).ToArray();
        var slots = new int[pods];
        for (var e = 0; e < experts; e++)
        {
            foreach (var p in live.PodsOf(layer, e))
            {
                slots[p]++;
            }
        }

        var load = profile.Load.AsSpan(layer * experts, experts);
        var weight = new long[experts];
        for (var e = 0; e < experts; e++)
        {
            weight[e] = (long)Math.Ceiling((double)load[e] / counts[e]);
        }

        var liveMax = Enumerable.Range(0, pods).Max(p => Enumerable.Range(0, experts).Where(e => live.Holds(p, layer, e)).Sum(e => weight[e]));
        var perPod = new long[experts * pods];
        for (var i = 0; i < perPod.Length; i++)
        {
            perPod[i] = weight[i / pods];
        }

        return (counts, slots, perPod, Math.Max(IlpSolver.Cap(load, counts, slots, weight, slack), liveMax));
    }

    private static long Score(long[] affinity, int[][] layer, int pods)
    {
        long sum = 0;
        for (var e = 0; e < layer.Length; e++)
        {
            foreach (var p in layer[e])
            {
                sum += affinity[(e * pods) + p];
            }
        }

        return sum;
    }

    private static int Moves(int[][] live, int[][] next) => next.Select((pods, e) => pods.Count(p => !live[e].Contains(p))).Sum();
}
