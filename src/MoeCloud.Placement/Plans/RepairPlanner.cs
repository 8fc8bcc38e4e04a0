namespace MoeCloud.Placement.Plans;

/// <summary>One expert a repair plan placed again: its only replicas were on dead pods.</summary>
/// <param name="Layer">MoE layer.</param>
/// <param name="Expert">Expert within the layer.</param>
/// <param name="Pod">The surviving pod that now holds its replica.</param>
public readonly record struct RepairedExpert(int Layer, int Expert, int Pod);

/// <summary>What <see cref="RepairPlanner.Repair"/> decided.</summary>
/// <param name="Plan">The repair plan (the live plan's version + 1), or null when every expert kept a surviving replica.</param>
/// <param name="Repaired">The orphaned experts and where each went, by layer then expert (empty when <paramref name="Plan"/> is null).</param>
/// <param name="Dropped">Replicas of the live plan on dead pods that the repair plan leaves out.</param>
public sealed record RepairResult(PlacementPlan? Plan, IReadOnlyList<RepairedExpert> Repaired, int Dropped);

/// <summary>
/// The plan that takes over when pods die (DESIGN.md §5, failures): every expert whose replicas were all on dead pods
/// gets one replica on a surviving pod; every surviving replica stays where it is. Pure and deterministic.
/// </summary>
public static class RepairPlanner
{
    /// <summary>
    /// Whether some (layer, expert) of <paramref name="live"/> has every replica on one of <paramref name="deadPods"/>:
    /// what <see cref="Repair"/> would re-place (its plan is null exactly when this is false). Pods outside the plan are
    /// ignored.
    /// </summary>
    public static bool HasOrphans(PlacementPlan live, IReadOnlySet<int> deadPods)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(deadPods);
        if (deadPods.Count == 0)
        {
            return false;
        }

        for (var l = 0; l < live.Layers; l++)
        {
            for (var e = 0; e < live.Experts; e++)
            {
                var alive = false;
                foreach (var p in live.PodsOf(l, e))
                {
                    if (!deadPods.Contains(p))
                    {
                        alive = true;
                        break;
                    }
                }

                if (!alive)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>
    /// Repairs <paramref name="live"/> after <paramref name="deadPods"/> died. When some (layer, expert) has no replica
    /// on a surviving pod, the result's plan is version <c>live.Info.Version + 1</c> with the same pods (a pod that
    /// comes back under its index can be used again by a later plan) and capacities, in which (1) the replicas on dead
    /// pods are gone, (2) every other replica keeps its pod, and (3) each orphaned expert, in (layer, expert) order, has
    /// one replica on the surviving pod with room that holds the fewest replicas (ties: fewer in that layer, then the
    /// lower pod id). When every expert kept a surviving replica there is nothing to repair: the plan is null (the
    /// survivors serve those experts already). Throws <see cref="ArgumentException"/> for a dead pod outside the plan,
    /// and <see cref="InvalidOperationException"/> naming the first expert that fits nowhere when the survivors'
    /// capacity cannot hold the orphans.
    /// </summary>
    public static RepairResult Repair(PlacementPlan live, IReadOnlySet<int> deadPods, DateTimeOffset createdUtc = default)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(deadPods);
        foreach (var p in deadPods)
        {
            if ((uint)p >= (uint)live.PodCount)
            {
                throw new ArgumentException($"dead pod {p} is outside the plan's pods [0, {live.PodCount}).", nameof(deadPods));
            }
        }

        // 1. Keep the surviving replicas; note the experts left without one.
        var assignment = new int[live.Layers][][];
        var orphans = new List<(int Layer, int Expert)>();
        var dropped = 0;
        for (var l = 0; l < live.Layers; l++)
        {
            assignment[l] = new int[live.Experts][];
            for (var e = 0; e < live.Experts; e++)
            {
                var pods = live.PodsOf(l, e);
                var kept = new List<int>(pods.Length);
                foreach (var p in pods)
                {
                    if (deadPods.Contains(p))
                    {
                        dropped++;
                    }
                    else
                    {
                        kept.Add(p);
                    }
                }

                assignment[l][e] = [.. kept];
                if (kept.Count == 0)
                {
                    orphans.Add((l, e));
                }
            }
        }

        if (orphans.Count == 0)
        {
            return new RepairResult(null, [], 0);
        }

        // 2. Each orphan goes to the least-loaded surviving pod with room.
        var survivors = Enumerable.Range(0, live.PodCount).Where(p => !deadPods.Contains(p)).ToArray();
        if (survivors.Length == 0)
        {
            throw new InvalidOperationException($"every pod of the plan is dead; layer {orphans[0].Layer}, expert {orphans[0].Expert} has nowhere to go.");
        }

        var held = new int[live.PodCount];
        var perLayer = new int[live.PodCount];
        foreach (var p in survivors)
        {
            held[p] = live.ReplicasOn(p).Count;
        }

        var repaired = new List<RepairedExpert>(orphans.Count);
        var layer = -1;
        foreach (var (l, e) in orphans)
        {
            if (l != layer)
            {
                layer = l;
                perLayer = live.ReplicasPerPod(l);
            }

            var best = -1;
            foreach (var p in survivors)
            {
                if (held[p] < live.Pods[p].Capacity
                    && (best < 0 || held[p] < held[best] || (held[p] == held[best] && perLayer[p] < perLayer[best])))
                {
                    best = p;
                }
            }

            if (best < 0)
            {
                var room = survivors.Sum(p => live.Pods[p].Capacity - held[p]);
                throw new InvalidOperationException(
                    $"the surviving pods ({string.Join(", ", survivors)}) are full: layer {l}, expert {e} lost every replica and fits nowhere ({orphans.Count - repaired.Count} orphaned experts left, {room} free slots).");
            }

            assignment[l][e] = [best];
            held[best]++;
            perLayer[best]++;
            repaired.Add(new RepairedExpert(l, e, best));
        }

        // 3. The library's validator checks the result like any plan.
        var info = live.Info with { Version = live.Info.Version + 1, Solver = "repair", CreatedUtc = createdUtc, Solve = null, Predicted = null };
        return new RepairResult(new PlacementPlan(info, live.Pods, assignment), repaired, dropped);
    }
}
