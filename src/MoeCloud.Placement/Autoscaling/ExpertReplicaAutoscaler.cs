using System.Globalization;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Autoscaling;

/// <summary>
/// Expert-replica autoscaling (issue 14): one step from the live plan and the windowed load per (layer, expert).
/// <list type="number">
/// <item>Within the cooldown of the last change: keep.</item>
/// <item>Add: an expert whose load share per replica passes <see cref="ExpertAutoscalingOptions.TargetLoadPerReplica"/>
/// (hottest first), or — with <see cref="ExpertAutoscalingOptions.MaxLoadImbalance"/> — the hottest replica on the most
/// loaded pod of a layer over the target (worst layer first), gets a replica on the pod that lowers the layer's
/// imbalance (<see cref="ExpertLoadImbalance.OfLayer"/>) most; among pods within 0.1% of the best, the one whose
/// neighbouring-layer replicas the expert is most co-activated with, so remote dispatches do not grow. A layer below
/// <see cref="ExpertAutoscalingOptions.MinRedundant"/> is filled the same way. Bounded by the pods' capacities, the
/// layer slots, <see cref="ExpertAutoscalingOptions.MaxRedundant"/> and the move budget.</item>
/// <item>Only when nothing is added, retire: an extra replica whose expert stays at or under
/// <see cref="ExpertAutoscalingOptions.RetireRatio"/> of the target without it (coldest first), and any beyond
/// <see cref="ExpertAutoscalingOptions.MaxRedundant"/>. The gap between the two thresholds is the hysteresis: a replica
/// just added never qualifies for retiring under the same load, and a retired one is not added back.</item>
/// </list>
/// A step only adds or only retires; the rollout (the runtime's plan registry) warms added replicas before the switch
/// and retires dropped ones after it, so every step is make-before-break. Pure: no clock of its own.
/// </summary>
public static class ExpertReplicaAutoscaler
{
    private const double Epsilon = 1e-9;

    /// <summary>
    /// One step. <paramref name="load"/> holds the windowed dispatches per (layer, expert) (its sample and transitions
    /// are optional: transitions steer the tie-break between equally good pods); <paramref name="lastChange"/> is when
    /// replica counts last changed (null: never).
    /// </summary>
    /// <exception cref="ArgumentException">Bad options (every problem named), or the plan and the load differ in shape.</exception>
    public static ExpertAutoscaleDecision Decide(PlacementPlan live, WorkloadProfile load, ExpertAutoscalingOptions options, DateTimeOffset? lastChange, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (live.Layers != load.Layers || live.Experts != load.Experts)
        {
            throw new ArgumentException($"the plan is [{live.Layers} layers x {live.Experts} experts], the load [{load.Layers} x {load.Experts}].", nameof(load));
        }

        if (lastChange is { } last && now - last < options.Cooldown)
        {
            return Keep(live, Invariant($"cooldown: {(last + options.Cooldown - now).TotalSeconds:F0} s until the next change may happen"));
        }

        var state = new AutoscaleState(live, load, options);
        var blocked = new List<string>();
        var changes = options.TargetLoadPerReplica is { } t ? AddByShare(state, t, blocked) : AddByImbalance(state, options.MaxLoadImbalance!.Value, blocked);
        var action = AutoscaleAction.Add;
        if (changes.Count == 0)
        {
            changes = options.TargetLoadPerReplica is { } target ? RetireByShare(state, target) : RetireByImbalance(state, options.MaxLoadImbalance!.Value);
            action = AutoscaleAction.Retire;
        }

        if (changes.Count == 0)
        {
            return Keep(live, blocked.Count > 0 ? $"on target except where no pod has room: {Summary(blocked)}" : "every expert is within its target");
        }

        var info = live.Info with
        {
            Version = live.Info.Version + 1,
            CreatedUtc = now,
            ProfileName = load.Name,
            Solve = new SolveSummary(Solvers.SolveStatus.Feasible, 0, null, 0, $"expert-replica autoscaling from version {live.Info.Version}: {changes.Count(c => c.Added)} added, {changes.Count(c => !c.Added)} retired"),
        };
        var plan = new PlacementPlan(info, live.Pods, state.ToAssignment());
        return new ExpertAutoscaleDecision(action, plan, changes, Summary(changes.Select(c => Describe(c, options)).ToList()));
    }

    private static List<ReplicaChange> AddByShare(AutoscaleState s, double target, List<string> blocked)
    {
        var changes = new List<ReplicaChange>();
        var stuck = new HashSet<(int, int)>();
        while (changes.Count < s.Options.MaxMoves)
        {
            (int Layer, int Expert, double PerReplica)? pick = null;
            for (var l = 0; l < s.Layers; l++)
            {
                var extra = s.Redundant(l);
                if (extra >= s.Options.MaxRedundant)
                {
                    continue;
                }

                for (var e = 0; e < s.Experts; e++)
                {
                    var perReplica = s.Share(l, e) / s.Count(l, e);
                    var wanted = perReplica > target + Epsilon || extra < s.Options.MinRedundant;
                    if (wanted && !stuck.Contains((l, e)) && s.Count(l, e) < s.Pods && (pick is null || perReplica > pick.Value.PerReplica + Epsilon))
                    {
                        pick = (l, e, perReplica);
                    }
                }
            }

            if (pick is not { } p)
            {
                break;
            }

            if (s.BestPodToAdd(p.Layer, p.Expert) is not { } pod)
            {
                stuck.Add((p.Layer, p.Expert));
                blocked.Add(Invariant($"L{p.Layer}/E{p.Expert} load/replica {p.PerReplica:F3}"));
                continue;
            }

            s.Add(p.Layer, p.Expert, pod);
            changes.Add(new ReplicaChange(p.Layer, p.Expert, pod, true, p.PerReplica, s.Share(p.Layer, p.Expert) / s.Count(p.Layer, p.Expert)));
        }

        return changes;
    }

    private static List<ReplicaChange> AddByImbalance(AutoscaleState s, double target, List<string> blocked)
    {
        var changes = new List<ReplicaChange>();
        var stuck = new HashSet<int>();
        while (changes.Count < s.Options.MaxMoves)
        {
            (int Layer, double Imbalance)? pick = null;
            for (var l = 0; l < s.Layers; l++)
            {
                var extra = s.Redundant(l);
                var imbalance = s.Imbalance(l);
                var wanted = imbalance > target + Epsilon || extra < s.Options.MinRedundant;
                if (wanted && extra < s.Options.MaxRedundant && !stuck.Contains(l) && (pick is null || imbalance > pick.Value.Imbalance + Epsilon))
                {
                    pick = (l, imbalance);
                }
            }

            if (pick is not { } p)
            {
                break;
            }

            if (BestAddInLayer(s, p.Layer, mustLower: s.Redundant(p.Layer) >= s.Options.MinRedundant) is not { } add)
            {
                stuck.Add(p.Layer);
                blocked.Add(Invariant($"L{p.Layer} imbalance {p.Imbalance:F3}"));
                continue;
            }

            s.Add(p.Layer, add.Expert, add.Pod);
            changes.Add(new ReplicaChange(p.Layer, add.Expert, add.Pod, true, p.Imbalance, s.Imbalance(p.Layer)));
        }

        return changes;
    }

    /// <summary>
    /// The hottest replicas of the layer's most loaded pods first: the first expert whose new replica (on its best pod)
    /// lowers the layer's imbalance, or, when <paramref name="mustLower"/> is false, the hottest expert that has room.
    /// </summary>
    private static (int Expert, int Pod)? BestAddInLayer(AutoscaleState s, int layer, bool mustLower)
    {
        var before = s.Imbalance(layer);
        var podLoad = s.PodLoads(layer);
        var order = Enumerable.Range(0, s.Experts)
            .Where(e => s.Count(layer, e) < s.Pods)
            .OrderByDescending(e => s.HolderLoads(layer, e, podLoad).Max())
            .ThenByDescending(e => s.Share(layer, e) / s.Count(layer, e))
            .ThenBy(e => e);
        foreach (var e in order)
        {
            if (s.BestPodToAdd(layer, e) is not { } pod)
            {
                continue;
            }

            if (!mustLower || s.ImbalanceWith(layer, e, pod, add: true) < before - Epsilon)
            {
                return (e, pod);
            }
        }

        return null;
    }

    private static List<ReplicaChange> RetireByShare(AutoscaleState s, double target)
    {
        var changes = new List<ReplicaChange>();
        while (changes.Count < s.Options.MaxMoves)
        {
            (int Layer, int Expert, double After)? pick = null;
            for (var l = 0; l < s.Layers; l++)
            {
                var extra = s.Redundant(l);
                if (extra <= s.Options.MinRedundant)
                {
                    continue;
                }

                for (var e = 0; e < s.Experts; e++)
                {
                    if (s.Count(l, e) < 2)
                    {
                        continue;
                    }

                    var after = s.Share(l, e) / (s.Count(l, e) - 1);
                    var wanted = after <= (s.Options.RetireRatio * target) + Epsilon || extra > s.Options.MaxRedundant;
                    if (wanted && (pick is null || after < pick.Value.After - Epsilon))
                    {
                        pick = (l, e, after);
                    }
                }
            }

            if (pick is not { } p)
            {
                break;
            }

            var before = s.Share(p.Layer, p.Expert) / s.Count(p.Layer, p.Expert);
            var pod = s.BestPodToRetire(p.Layer, p.Expert).Pod;
            s.Retire(p.Layer, p.Expert, pod);
            changes.Add(new ReplicaChange(p.Layer, p.Expert, pod, false, before, p.After));
        }

        return changes;
    }

    private static List<ReplicaChange> RetireByImbalance(AutoscaleState s, double target)
    {
        var changes = new List<ReplicaChange>();
        var floor = 1 + (s.Options.RetireRatio * (target - 1));
        var done = new HashSet<int>();
        while (changes.Count < s.Options.MaxMoves)
        {
            (int Layer, int Expert, int Pod, double After, double Cold)? pick = null;
            for (var l = 0; l < s.Layers; l++)
            {
                var extra = s.Redundant(l);
                if (extra <= s.Options.MinRedundant || done.Contains(l))
                {
                    continue;
                }

                for (var e = 0; e < s.Experts; e++)
                {
                    if (s.Count(l, e) < 2)
                    {
                        continue;
                    }

                    var (pod, after) = s.BestPodToRetire(l, e);
                    var cold = s.Share(l, e) / (s.Count(l, e) - 1);
                    var wanted = after <= floor + Epsilon || extra > s.Options.MaxRedundant;
                    if (wanted && (pick is null || cold < pick.Value.Cold - Epsilon))
                    {
                        pick = (l, e, pod, after, cold);
                    }
                }
            }

            if (pick is not { } p)
            {
                break;
            }

            var before = s.Imbalance(p.Layer);
            s.Retire(p.Layer, p.Expert, p.Pod);
            changes.Add(new ReplicaChange(p.Layer, p.Expert, p.Pod, false, before, p.After));
        }

        return changes;
    }

    private static ExpertAutoscaleDecision Keep(PlacementPlan live, string reason) => new(AutoscaleAction.Keep, live, [], reason);

    private static string Describe(ReplicaChange c, ExpertAutoscalingOptions o)
    {
        var measure = o.TargetLoadPerReplica is { } t
            ? Invariant($"L{c.Layer}/E{c.Expert} load/replica {(c.Added ? c.Before : c.After):F3} {(c.Added ? ">" : "<=")} {(c.Added ? t : o.RetireRatio * t):F3}")
            : Invariant($"L{c.Layer} imbalance {c.Before:F3} -> {c.After:F3} (target {o.MaxLoadImbalance:F3})");
        return Invariant($"{measure}: {(c.Added ? "+1" : "-1")} replica of E{c.Expert} on pod {c.Pod}");
    }

    private static string Summary(IReadOnlyList<string> items) =>
        string.Join("; ", items.Take(3)) + (items.Count > 3 ? Invariant($" (and {items.Count - 3} more)") : "");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
