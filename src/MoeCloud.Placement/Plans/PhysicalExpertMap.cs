namespace MoeCloud.Placement.Plans;

/// <summary>
/// A plan as the physical-to-logical map of an expert-parallel engine (DeepSeek's EPLB <c>phy2log</c>, SGLang's
/// <c>--init-expert-location</c>, vLLM's <c>EplbState.physical_to_logical_map</c>).
/// </summary>
/// <param name="Map"><c>[layer][physical slot] → logical expert</c>, every row the same length.</param>
/// <param name="SlotsPerRank">Physical slots of each EP rank per layer: rank r holds slots [r·S, (r+1)·S).</param>
/// <param name="Padded">Slots filled beyond the plan's replicas so that every rank has <paramref name="SlotsPerRank"/> (see <see cref="PhysicalExpertMap.FromPlan"/>).</param>
public sealed record PhysicalExpertLayout(int[][] Map, int SlotsPerRank, int Padded)
{
    /// <summary>Physical experts per layer (logical + redundant).</summary>
    public int PhysicalExperts => Map[0].Length;
}

/// <summary>
/// Converts between a <see cref="PlacementPlan"/> and the physical-to-logical map both SGLang and vLLM use. Their
/// contract, read from the engines' code (SGLang <c>eplb/expert_location.py</c>, vLLM <c>distributed/eplb</c>): a layer
/// has P = logical + redundant physical experts, P divides by the EP size N, rank r holds the contiguous slots
/// [r·P/N, (r+1)·P/N), and a rank may hold two slots of the same logical expert. Each pod of a plan is one rank.
/// </summary>
public static class PhysicalExpertMap
{
    /// <summary>
    /// The map of <paramref name="plan"/> on <paramref name="ranks"/> EP ranks (pod p = rank p), with
    /// <paramref name="physicalExperts"/> slots per layer (null: the fewest that hold the plan, ranks × the most replicas
    /// any pod has in one layer). Within a rank, slots follow the plan's replicas in expert order. Both engines give
    /// every rank the same number of slots, so a rank with fewer replicas in a layer is padded: with second copies of the
    /// experts it already holds (in expert order), which changes no expert's set of pods; a rank that holds nothing in
    /// the layer gets the experts with the fewest replicas there. Throws <see cref="ArgumentException"/> when the pod
    /// count is not <paramref name="ranks"/>, when <paramref name="physicalExperts"/> does not divide by it, or when
    /// it is too small for the plan.
    /// </summary>
    public static PhysicalExpertLayout FromPlan(PlacementPlan plan, int ranks, int? physicalExperts = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        if (ranks != plan.PodCount)
        {
            throw new ArgumentException(
                $"the plan has {plan.PodCount} pods and the EP size is {ranks}: each pod of a plan is one EP rank, so they must be equal (solve the plan for {ranks} pods)",
                nameof(ranks));
        }

        // 1. The slots each rank needs: the most replicas any pod holds in one layer.
        var onRank = Enumerable.Range(0, plan.Layers).Select(_ => Enumerable.Range(0, ranks).Select(_ => new List<int>()).ToArray()).ToArray();
        for (var p = 0; p < ranks; p++)
        {
            foreach (var r in plan.ReplicasOn(p))
            {
                onRank[r.Layer][p].Add(r.Expert);
            }
        }

        var needed = onRank.Max(layer => layer.Max(list => list.Count));
        var slots = needed;
        if (physicalExperts is { } total)
        {
            if (total % ranks != 0)
            {
                throw new ArgumentException($"the physical expert count {total} does not divide by the EP size {ranks}", nameof(physicalExperts));
            }

            slots = total / ranks;
            if (slots < needed)
            {
                throw new ArgumentException(
                    $"{total} physical experts give {slots} slots per rank, but a pod of the plan holds {needed} replicas of one layer; at least {needed * ranks} physical experts are needed",
                    nameof(physicalExperts));
            }
        }

        // 2. Pad each short (layer, rank) and lay the ranks out in contiguous blocks.
        var padded = 0;
        var map = new int[plan.Layers][];
        for (var l = 0; l < plan.Layers; l++)
        {
            var fewest = FewestReplicasFirst(plan, l);
            for (var p = 0; p < ranks; p++)
            {
                var held = onRank[l][p];
                var own = held.Count;
                for (var i = 0; held.Count < slots; i++)
                {
                    held.Add(own > 0 ? held[i % own] : fewest[i % fewest.Length]);
                    padded++;
                }
            }

            map[l] = Concatenate(onRank[l]);
        }

        return new PhysicalExpertLayout(map, slots, padded);
    }

    /// <summary>
    /// The plan a map describes on <paramref name="ranks"/> EP ranks: slot i of a layer lies on rank i / (P/N); an
    /// expert's pods are the distinct ranks holding it, in slot order (a second copy on the same rank adds no pod).
    /// <paramref name="map"/> is <c>[layer][physical slot] → expert</c> with ids in [0, <paramref name="experts"/>).
    /// Throws <see cref="ArgumentException"/> naming the first problem (ragged rows, P not dividing by the EP size, an
    /// id out of range, an expert without a slot).
    /// </summary>
    public static PlacementPlan ToPlan(IReadOnlyList<int[]> map, int ranks, int experts, PlanMetadata info)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(info);
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(experts, 1);
        if (map.Count == 0 || map[0] is null || map[0].Length == 0)
        {
            throw new ArgumentException("the map needs at least one layer with at least one physical expert", nameof(map));
        }

        var physical = map[0].Length;
        if (physical % ranks != 0)
        {
            throw new ArgumentException($"the physical expert count {physical} does not divide by the EP size {ranks}", nameof(map));
        }

        var slots = physical / ranks;
        var assignment = new int[map.Count][][];
        for (var l = 0; l < map.Count; l++)
        {
            var row = map[l];
            if (row is null || row.Length != physical)
            {
                throw new ArgumentException($"layer {l} has {row?.Length ?? 0} physical experts, layer 0 has {physical}", nameof(map));
            }

            var pods = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
            for (var i = 0; i < physical; i++)
            {
                if ((uint)row[i] >= (uint)experts)
                {
                    throw new ArgumentException($"layer {l}, physical expert {i}: logical expert id {row[i]} is outside [0, {experts})", nameof(map));
                }

                var rank = i / slots;
                if (!pods[row[i]].Contains(rank))
                {
                    pods[row[i]].Add(rank);
                }
            }

            var missing = Array.FindIndex(pods, p => p.Count == 0);
            if (missing >= 0)
            {
                throw new ArgumentException($"layer {l}: logical expert {missing} has no physical expert", nameof(map));
            }

            assignment[l] = pods.Select(p => p.ToArray()).ToArray();
        }

        return PlacementPlan.WithoutCapacities(info, ranks, assignment);
    }

    /// <summary>
    /// The rank-major row of one layer: rank 0's slots, then rank 1's, and so on (<c>[rank][slot] → expert</c>
    /// flattened). The one place that fixes the layout rule "rank r holds a contiguous block".
    /// </summary>
    internal static int[] Concatenate(IEnumerable<IEnumerable<int>> onRank) => onRank.SelectMany(slots => slots).ToArray();

    /// <summary>The experts of <paramref name="layer"/>, fewest replicas first (ties by id).</summary>
    private static int[] FewestReplicasFirst(PlacementPlan plan, int layer) =>
        Enumerable.Range(0, plan.Experts).OrderBy(e => plan.PodsOf(layer, e).Length).ThenBy(e => e).ToArray();
}
