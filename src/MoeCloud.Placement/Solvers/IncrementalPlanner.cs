using System.Diagnostics;
using System.Globalization;
using MoeCloud.Model.Traces;
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
/// <param name="Rounds">Rounds of homes and layers that lowered the remote fraction.</param>
public sealed record IncrementalResult(ReplacementDecision Decision, PlacementPlan Candidate, int Moves, double LiveRemoteFraction, double CandidateRemoteFraction, string Note, int Rounds = 0)
{
    /// <summary>Predicted gain: live remote fraction − candidate remote fraction.</summary>
    public double Gain => LiveRemoteFraction - CandidateRemoteFraction;
}

/// <summary>One point of <see cref="IncrementalPlanner.GainCurve"/>.</summary>
/// <param name="MaxMoves">The move budget M.</param>
/// <param name="Moves">Moves the candidate makes.</param>
/// <param name="Rounds">Rounds of homes and layers that lowered the remote fraction.</param>
/// <param name="LiveRemoteFraction">The live plan's remote fraction on the profile's sample.</param>
/// <param name="CandidateRemoteFraction">The candidate's.</param>
/// <param name="LiveScoredRemoteFraction">The live plan's remote fraction on the scoring trace, when one was given.</param>
/// <param name="CandidateScoredRemoteFraction">The candidate's there.</param>
public sealed record GainPoint(int MaxMoves, int Moves, int Rounds, double LiveRemoteFraction, double CandidateRemoteFraction, double? LiveScoredRemoteFraction, double? CandidateScoredRemoteFraction)
{
    /// <summary>In-sample gain: live − candidate remote fraction on the profile's sample.</summary>
    public double Gain => LiveRemoteFraction - CandidateRemoteFraction;

    /// <summary>Gain on the scoring trace, when one was given.</summary>
    public double? ScoredGain => LiveScoredRemoteFraction - CandidateScoredRemoteFraction;
}

/// <summary>
/// Incremental re-placement (DESIGN.md §3): given the live plan and a new profile, the best plan that moves at most M
/// replicas. It keeps the live plan's shape (replica counts per expert, slots per pod and layer, capacities), homes
/// the new profile's sampled tokens on the live plan, then re-places layers one at a time with CP-SAT under the
/// remaining move budget (moves counted against the live plan), layers with the largest gain bound first; then it homes
/// the tokens again on the result and re-places layers again, alternating while a round lowers the simulated remote
/// fraction (at most <see cref="MaxRounds"/> rounds). Gains are scored by the simulator (speculative homes) on the new
/// profile's sample; a candidate that does not beat the live plan by the threshold is reported as
/// <see cref="ReplacementDecision.Keep"/>.
/// </summary>
public static class IncrementalPlanner
{
    /// <summary>Most rounds of homes and layers.</summary>
    public const int MaxRounds = 6;

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
        int layers = live.Layers, pods = live.PodCount;
        var liveAssignment = live.ToAssignment();
        var layerData = Enumerable.Range(0, layers).Select(l => LayerShape(live, profile, l, options.LoadSlack)).ToArray();
        var model = TransitionModel.FromProfile(profile);
        var info = live.Info with
        {
            Version = live.Info.Version + 1,
            CreatedUtc = (time ?? TimeProvider.System).GetUtcNow(),
            ProfileName = profile.Name,
            ProfileFingerprint = profile.Fingerprint(),
            Seed = seed,
        };
        SimulationMetrics Simulate(int[][][] assignment) => Simulator.Run(new PlacementPlan(info, live.Pods, assignment), profile.Sample, new SimulationOptions(), model);

        // Alternate: home the sampled tokens on the current candidate, re-place layers for those homes within what the
        // budget leaves (moves counted against the live plan), keep the round only when the simulated remote fraction
        // falls; stop after a round without gain or after MaxRounds.
        var assignment = live.ToAssignment();
        var liveRemote = Simulate(liveAssignment).RemoteFraction;
        var bestRemote = liveRemote;
        var used = new int[layers];
        var rounds = 0;
        for (var round = 0; round < MaxRounds && maxMoves > 0; round++)
        {
            var trial = assignment.Select(layer => layer.Select(e => (int[])e.Clone()).ToArray()).ToArray();
            var trialUsed = (int[])used.Clone();
            var changed = ReplaceLayers(profile, trial, trialUsed, liveAssignment, layerData, maxMoves, options, seed + (round * layers), progress);
            if (!changed)
            {
                break;
            }

            var remote = Simulate(trial).RemoteFraction;
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"round {round + 1}: {trialUsed.Sum()} move(s), remote fraction {bestRemote:F4} -> {remote:F4}"));
            if (remote >= bestRemote - 1e-9)
            {
                break;
            }

            (assignment, used, bestRemote, rounds) = (trial, trialUsed, remote, round + 1);
        }

        info = info with { Solve = new SolveSummary(SolveStatus.Feasible, 0, null, watch.Elapsed.TotalSeconds, $"incremental from version {live.Info.Version}, at most {maxMoves} move(s), {rounds} round(s) of homes and layers") };
        var candidate = new PlacementPlan(info, live.Pods, assignment);
        var predicted = Simulator.Run(candidate, profile.Sample, new SimulationOptions(), model);
        candidate = candidate.WithInfo(info with { Predicted = predicted });
        var moves = live.MovesTo(candidate);
        var decision = liveRemote - predicted.RemoteFraction >= threshold && moves > 0 ? ReplacementDecision.Apply : ReplacementDecision.Keep;
        var note = string.Create(CultureInfo.InvariantCulture, $"{moves} move(s) in {rounds} round(s); remote fraction {liveRemote:F4} -> {predicted.RemoteFraction:F4} (threshold {threshold:F4})");
        return new IncrementalResult(decision, candidate, moves, liveRemote, predicted.RemoteFraction, note, rounds);
    }

    /// <summary>
    /// The moves-vs-gain curve: <see cref="Plan"/> for each budget in <paramref name="budgets"/>, each scored on
    /// <paramref name="score"/> too when given (speculative homes, transition statistics from the profile).
    /// </summary>
    public static IReadOnlyList<GainPoint> GainCurve(PlacementPlan live, WorkloadProfile profile, IReadOnlyList<int> budgets, RoutingTrace? score = null, IlpOptions? options = null, int seed = 1, TimeProvider? time = null, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(budgets);
        var model = score is null ? null : TransitionModel.FromProfile(profile);
        double? Scored(PlacementPlan plan) => score is null ? null : Simulator.Run(plan, score, new SimulationOptions(), model).RemoteFraction;
        var liveScored = Scored(live);
        var points = new List<GainPoint>();
        foreach (var m in budgets)
        {
            var result = Plan(live, profile, m, 0, options, seed, time, progress);
            points.Add(new GainPoint(m, result.Moves, result.Rounds, result.LiveRemoteFraction, result.CandidateRemoteFraction, liveScored, Scored(result.Candidate)));
        }

        return points;
    }

    private static bool ReplaceLayers(WorkloadProfile profile, int[][][] assignment, int[] used, int[][][] liveAssignment, (int[] Counts, int[] Slots, long[] Weight, long Cap)[] layerData, int maxMoves, IlpOptions options, int seed, IProgress<string>? progress)
    {
        int layers = assignment.Length, experts = profile.Experts, pods = layerData[0].Slots.Length;
        var (homes, _) = TokenHomes.Assign(profile.Sample, assignment, pods, options.HomeSlack, options.FirstLayerHomeWeight);
        var affinity = Enumerable.Range(0, layers).Select(l => TokenHomes.Affinity(profile.Sample, homes, l, experts, pods).Select(a => (long)a).ToArray()).ToArray();

        // Layers in order of their gain bound (each expert's replicas on its best-affinity pods, slots and caps ignored).
        var order = Enumerable.Range(0, layers)
            .Select(l => (Layer: l, Bound: Bound(affinity[l], layerData[l].Counts, pods) - Score(affinity[l], assignment[l], pods)))
            .OrderByDescending(g => g.Bound).ThenBy(g => g.Layer);
        var changed = false;
        foreach (var (l, bound) in order)
        {
            var allowed = maxMoves - (used.Sum() - used[l]);
            if (bound <= 0 || allowed <= 0)
            {
                continue;
            }

            var d = layerData[l];
            var outcome = LayerSubproblem.Solve(affinity[l], d.Weight, d.Counts, d.Slots, d.Cap, liveAssignment[l], seed + l, 0.2, options.Workers, allowed);
            if (outcome is null || outcome.Objective <= Score(affinity[l], assignment[l], pods))
            {
                continue;
            }

            assignment[l] = outcome.Assignment;
            used[l] = Moves(liveAssignment[l], outcome.Assignment);
            changed = true;
            progress?.Report(string.Create(CultureInfo.InvariantCulture, $"layer {l}: {used[l]} move(s), {maxMoves - used.Sum()} left"));
        }

        return changed;
    }

    private static long Bound(long[] affinity, int[] counts, int pods)
    {
        long sum = 0;
        var row = new long[pods];
        for (var e = 0; e < counts.Length; e++)
        {
            affinity.AsSpan(e * pods, pods).CopyTo(row);
            Array.Sort(row);
            for (var i = 0; i < counts[e]; i++)
            {
                sum += row[pods - 1 - i];
            }
        }

        return sum;
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
