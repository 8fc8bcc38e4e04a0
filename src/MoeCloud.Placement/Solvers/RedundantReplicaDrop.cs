namespace MoeCloud.Placement.Solvers;

/// <summary>
/// Making room on the staying pods during a scale-in (<see cref="LeavingPodEviction"/>): when the sole replica of an
/// expert finds no staying pod with a free slot, a redundant replica of another expert gives up its slot.
/// </summary>
internal static class RedundantReplicaDrop
{
    /// <summary>
    /// Drops a redundant replica of another expert (lightest per replica; one with at least two replicas on staying
    /// pods) from a staying pod that lacks <paramref name="expert"/>; false when there is none.
    /// </summary>
    public static bool FreeSlot(ScaleStepState state, int layer, int expert)
    {
        (int Expert, int Pod, double Weight)? victim = null;
        var holders = state.ReplicasOf(layer, expert);
        for (var f = 0; f < state.Experts; f++)
        {
            var replicas = state.ReplicasOf(layer, f);
            if (f == expert || replicas.Count(p => p < state.Target) < 2)
            {
                continue;
            }

            foreach (var p in replicas.Where(p => p < state.Target && !holders.Contains(p)))
            {
                var w = state.Weight(layer, f);
                if (victim is null || w < victim.Value.Weight)
                {
                    victim = (f, p, w);
                }
            }
        }

        if (victim is not { } v)
        {
            return false;
        }

        state.Drop(layer, v.Expert, v.Pod);
        return true;
    }
}
