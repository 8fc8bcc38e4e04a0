namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The greedy moves of a <see cref="ScalingPlanner"/> step once no replica is left on a leaving pod: onto the new pods
/// for a scale-out, between any staying pods otherwise. Each move is the one of all layers with the highest
/// <see cref="ScaleObjective.Gain"/> whose destination has room and stays under <see cref="ScaleObjective.UnderCap"/>.
/// </summary>
internal static class BalancingMoves
{
    /// <summary>Makes at most <paramref name="budget"/> moves, stopping when none gains; returns the moves made.</summary>
    public static int Balance(ScaleStepState state, int budget)
    {
        var (first, last) = state.Target > state.LivePods ? (state.LivePods, state.Target) : (0, state.Target);
        var best = new (int Expert, int From, int To, double Gain)?[state.Layers];
        for (var l = 0; l < state.Layers; l++)
        {
            best[l] = BestMove(state, l, first, last);
        }

        var moves = 0;
        while (moves < budget)
        {
            var pick = -1;
            for (var l = 0; l < state.Layers; l++)
            {
                if (best[l] is { } m && (pick < 0 || m.Gain > best[pick]!.Value.Gain + ScaleObjective.Epsilon))
                {
                    pick = l;
                }
            }

            if (pick < 0)
            {
                break;
            }

            var move = best[pick]!.Value;
            if (!state.HasRoom(pick, move.Expert, move.To))
            {
                // Another layer's move filled the destination pod's capacity since: look again.
                best[pick] = BestMove(state, pick, first, last);
                continue;
            }

            state.Move(pick, move.Expert, move.From, move.To);
            moves++;
            best[pick] = BestMove(state, pick, first, last);
        }

        return moves;
    }

    /// <summary>The layer's move with the highest positive gain onto a pod in [<paramref name="first"/>, <paramref name="last"/>); null when none gains.</summary>
    private static (int Expert, int From, int To, double Gain)? BestMove(ScaleStepState state, int layer, int first, int last)
    {
        (int Expert, int From, int To, double Gain)? best = null;
        for (var e = 0; e < state.Experts; e++)
        {
            foreach (var from in state.ReplicasOf(layer, e))
            {
                for (var to = first; to < last; to++)
                {
                    if (to == from || !state.HasRoom(layer, e, to) || !state.UnderCap(layer, e, to))
                    {
                        continue;
                    }

                    var gain = state.Gain(layer, e, from, to);
                    if (gain > ScaleObjective.Epsilon && (best is null || gain > best.Value.Gain + ScaleObjective.Epsilon))
                    {
                        best = (e, from, to, gain);
                    }
                }
            }
        }

        return best;
    }
}
