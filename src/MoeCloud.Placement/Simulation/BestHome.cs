using System.Numerics;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The best home in hindsight (DESIGN.md §2, prediction hit rate): the pod on which most of a token's dispatches over
/// the given layers would have been local, a dispatch counting for every pod that holds a replica of its expert; ties go
/// to the lowest pod. The simulator scores its predictions with it and the runner reports it per token (the proto's
/// <c>best_homes</c>).
/// </summary>
public static class BestHome
{
    /// <summary>
    /// One token's best home. <paramref name="routing"/> is its expert ids <c>[layers, topK]</c> for layers
    /// <paramref name="firstLayer"/>, <paramref name="firstLayer"/> + 1, …; <paramref name="scores"/> is scratch of at
    /// least <see cref="IReplicaLookup.PodCount"/> entries (overwritten).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="topK"/> is below 1 or does not divide the routing, or the scratch is too short.</exception>
    public static int Of<TId>(IReplicaLookup plan, int firstLayer, ReadOnlySpan<TId> routing, int topK, Span<int> scores)
        where TId : IBinaryInteger<TId>
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (topK < 1 || routing.Length % topK != 0)
        {
            throw new ArgumentException($"the routing ({routing.Length} ids) must be whole layers of top-{topK} (top-k at least 1).", nameof(topK));
        }

        if (scores.Length < plan.PodCount)
        {
            throw new ArgumentException($"the scratch holds {scores.Length} scores, the plan has {plan.PodCount} pods.", nameof(scores));
        }

        // 1. Count, per pod, the dispatches that would have been local there.
        scores = scores[..plan.PodCount];
        scores.Clear();
        for (var i = 0; i < routing.Length; i++)
        {
            foreach (var p in plan.PodsOf(firstLayer + (i / topK), int.CreateTruncating(routing[i])))
            {
                scores[p]++;
            }
        }

        // 2. The highest count, ties to the lowest pod.
        var best = 0;
        for (var p = 1; p < scores.Length; p++)
        {
            if (scores[p] > scores[best])
            {
                best = p;
            }
        }

        return best;
    }

    /// <summary>
    /// Every token's best home: <paramref name="ids"/> is <c>[tokens, layers, topK]</c> over layers
    /// <paramref name="firstLayer"/>..<paramref name="firstLayer"/> + <paramref name="layers"/> - 1.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="layers"/> or <paramref name="topK"/> is below 1 or they do not divide the ids.</exception>
    public static int[] OfTokens<TId>(IReplicaLookup plan, int firstLayer, int layers, int topK, ReadOnlySpan<TId> ids)
        where TId : IBinaryInteger<TId>
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (layers < 1 || topK < 1 || ids.Length % (layers * topK) != 0)
        {
            throw new ArgumentException($"the ids ({ids.Length}) must be whole tokens of {layers} layers x top-{topK} (both at least 1).", nameof(ids));
        }

        var perToken = layers * topK;
        var best = new int[ids.Length / perToken];
        var scores = new int[plan.PodCount];
        for (var t = 0; t < best.Length; t++)
        {
            best[t] = Of(plan, firstLayer, ids.Slice(t * perToken, perToken), topK, scores);
        }

        return best;
    }
}
