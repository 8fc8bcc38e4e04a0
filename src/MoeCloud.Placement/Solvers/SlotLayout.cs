namespace MoeCloud.Placement.Solvers;

/// <summary>
/// How many replicas each pod holds in each layer: E + R per layer, spread evenly (pods with fewer slots in the layer
/// first, then the pod with most capacity left, then the lowest id), never more than E per pod and layer, never past a
/// pod's capacity.
/// </summary>
internal static class SlotLayout
{
    /// <summary>
    /// The slots of a feasible problem; otherwise null, with <paramref name="infeasible"/> the result every solver
    /// returns for it (the problem's own reason, or the capacities running out).
    /// </summary>
    public static int[][]? ComputeOrExplain(PlacementProblem problem, out PlacementResult? infeasible)
    {
        var why = problem.Infeasibility();
        var slots = why is null ? Compute(problem) : null;
        infeasible = slots is null ? PlacementResult.Infeasible(why ?? "the capacities cannot hold an even layout of the replicas") : null;
        return slots;
    }

    /// <summary>Slots <c>[layer][pod]</c>, or null when the capacities run out.</summary>
    public static int[][]? Compute(PlacementProblem problem)
    {
        int layers = problem.Profile.Layers, experts = problem.Profile.Experts, pods = problem.Pods;
        var left = problem.Capacities.Select(c => (long)c).ToArray();
        var slots = new int[layers][];
        for (var l = 0; l < layers; l++)
        {
            slots[l] = new int[pods];
            for (var i = 0; i < problem.ReplicasPerLayer; i++)
            {
                var best = -1;
                for (var p = 0; p < pods; p++)
                {
                    if (left[p] <= 0 || slots[l][p] >= experts)
                    {
                        continue;
                    }

                    if (best < 0 || slots[l][p] < slots[l][best] || (slots[l][p] == slots[l][best] && left[p] > left[best]))
                    {
                        best = p;
                    }
                }

                if (best < 0)
                {
                    return null;
                }

                slots[l][best]++;
                left[best]--;
            }
        }

        return slots;
    }
}
