using System.Globalization;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The scale-in part of a <see cref="ScalingPlanner"/> step: every replica on a leaving pod (at or above the target)
/// moves to the staying pod with room that gains most, heaviest per replica first, until the budget runs out. A
/// redundant replica with nowhere to go is dropped instead (no move); a sole replica with nowhere to go first makes room
/// through <see cref="RedundantReplicaDrop"/>.
/// </summary>
internal static class LeavingPodEviction
{
    /// <summary>Moves (or drops) replicas off the leaving pods; returns the budget left and the drops.</summary>
    public static (int Budget, int Dropped) Evict(ScaleStepState state, int budget)
    {
        var dropped = 0;
        var leaving = new List<(int Layer, int Expert, int Pod, double Weight)>();
        for (var l = 0; l < state.Layers; l++)
        {
            for (var e = 0; e < state.Experts; e++)
            {
                foreach (var p in state.ReplicasOf(l, e).Where(p => p >= state.Target))
                {
                    leaving.Add((l, e, p, state.Weight(l, e)));
                }
            }
        }

        foreach (var (l, e, from, _) in leaving.OrderByDescending(r => r.Weight).ThenBy(r => r.Layer).ThenBy(r => r.Expert).ThenBy(r => r.Pod))
        {
            var to = BestDestination(state, l, e, from);
            if (to < 0 && state.ReplicasOf(l, e).Count > 1)
            {
                state.Drop(l, e, from);
                dropped++;
                continue;
            }

            if (budget == 0)
            {
                continue;
            }

            if (to < 0 && RedundantReplicaDrop.FreeSlot(state, l, e))
            {
                dropped++;
                to = BestDestination(state, l, e, from);
            }

            if (to < 0)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"layer {l}, expert {e} cannot leave pod {from}: no pod below {state.Target} has a free slot (capacities {string.Join(", ", state.Capacity.Take(state.Target))}, {state.LayerSlots} per layer)."));
            }

            state.Move(l, e, from, to);
            budget--;
        }

        return (budget, dropped);
    }

    /// <summary>The staying pod with room that gains most from taking the replica on <paramref name="from"/>; −1 when none has room.</summary>
    private static int BestDestination(ScaleStepState state, int layer, int expert, int from)
    {
        var best = -1;
        var bestGain = double.NegativeInfinity;
        for (var to = 0; to < state.Target; to++)
        {
            if (!state.HasRoom(layer, expert, to))
            {
                continue;
            }

            var gain = state.Gain(layer, expert, from, to);
            if (best < 0 || gain > bestGain + ScaleObjective.Epsilon)
            {
                best = to;
                bestGain = gain;
            }
        }

        return best;
    }
}
