namespace MoeCloud.Placement.Solvers;

/// <summary>
/// DeepSeek's EPLB for one layer, both policies, with the original's arithmetic and tie-breaking: loads are compared
/// as single-precision floats (the original turns the loads into float32), a choice between equal candidates goes to
/// the lowest index, and a sort by load keeps equal loads in index order. The hierarchical policy (groups and nodes)
/// (1) packs whole expert groups onto nodes, the same number per node, balancing node load; (2) within each node, gives
/// the node's replicas to the node's experts, one at a time to the highest load per replica; (3) packs the node's
/// replicas onto its pods. The global policy is the hierarchical one with one group and one node.
/// <para>
/// Where the library's rules are stricter than the original's, the steps bend only where the original would break
/// them: an expert gets at most as many replicas as its node has pods, a pod never holds two replicas of one expert
/// (the replica goes to the least-loaded pod that lacks the expert), and each pod has the slots
/// <see cref="SlotLayout"/> gives it (the original needs the same number on every GPU). With an even layout and no
/// replica that the original would double up on a GPU, the result is the original's.
/// </para>
/// </summary>
internal static class EplbPolicy
{
    /// <summary>
    /// Places one layer. <paramref name="load"/> is <c>[expert]</c> (tokens), <paramref name="slots"/> <c>[pod]</c> (the
    /// pod's replicas in this layer); pods <c>n × P/nodes .. (n + 1) × P/nodes − 1</c> form node n and experts
    /// <c>g × E/groups ..</c> group g. Returns the layer, or null with <paramref name="why"/> when the slots cannot take it.
    /// </summary>
    public static EplbLayer? Place(ReadOnlySpan<long> load, IReadOnlyList<int> slots, int groups, int nodes, out string? why)
    {
        int experts = load.Length, pods = slots.Count;
        int groupSize = experts / groups, podsPerNode = pods / nodes, expertsPerNode = experts / nodes;

        // 1. Pack the groups onto the nodes, groups / nodes each, by group load.
        var groupLoad = new float[groups];
        for (var g = 0; g < groups; g++)
        {
            long sum = 0;
            foreach (var x in load.Slice(g * groupSize, groupSize))
            {
                sum += x;
            }

            groupLoad[g] = sum;
        }

        var groupSlots = Enumerable.Repeat(groups / nodes, nodes).ToArray();
        var groupItems = Enumerable.Range(0, groups).ToArray();
        var nodeGroups = Pack(groupLoad, groupItems, groupSlots, distinct: false)!.Value.Packs;

        var onPod = new int[pods][];
        var podsOf = new int[experts][];
        for (var n = 0; n < nodes; n++)
        {
            // The node's experts, in the order of its groups on it: local index → expert.
            var local = nodeGroups[n].SelectMany(g => Enumerable.Range(g * groupSize, groupSize)).ToArray();
            var nodeSlots = slots.Skip(n * podsPerNode).Take(podsPerNode).ToArray();
            var physical = nodeSlots.Sum();
            if (physical < expertsPerNode || physical > (long)expertsPerNode * podsPerNode)
            {
                why = $"node {n} has {physical} slots in the layer for its {expertsPerNode} experts on {podsPerNode} pods (needs {expertsPerNode} to {(long)expertsPerNode * podsPerNode})";
                return null;
            }

            // 2. Replicate within the node.
            var localLoad = new float[local.Length];
            for (var j = 0; j < local.Length; j++)
            {
                localLoad[j] = load[local[j]];
            }

            var (replicaOf, counts) = Replicate(localLoad, physical, podsPerNode);

            // 3. Pack the node's replicas onto its pods.
            var weight = replicaOf.Select(j => localLoad[j] / counts[j]).ToArray();
            if (Pack(weight, replicaOf, nodeSlots, distinct: true) is not { } packed)
            {
                why = $"node {n}: the slots cannot hold every replica on distinct pods";
                return null;
            }

            for (var k = 0; k < podsPerNode; k++)
            {
                onPod[(n * podsPerNode) + k] = packed.Packs[k].Select(j => local[j]).ToArray();
            }

            for (var j = 0; j < local.Length; j++)
            {
                podsOf[local[j]] = packed.PacksOf[j].Select(k => (n * podsPerNode) + k).ToArray();
            }
        }

        why = null;
        return new EplbLayer(onPod, podsOf);
    }

    /// <summary>
    /// EPLB's replication: replica i &lt; n is expert i's first; each further one goes to the expert with the highest load
    /// per replica (float32 quotient; ties: lowest index), at most <paramref name="maxPerExpert"/> each. Returns
    /// replica → expert and the replica counts.
    /// </summary>
    private static (int[] ReplicaOf, int[] Counts) Replicate(float[] load, int replicas, int maxPerExpert)
    {
        var counts = Enumerable.Repeat(1, load.Length).ToArray();
        var replicaOf = new int[replicas];
        for (var i = 0; i < load.Length; i++)
        {
            replicaOf[i] = i;
        }

        for (var i = load.Length; i < replicas; i++)
        {
            var best = -1;
            var bestLoad = 0f;
            for (var e = 0; e < load.Length; e++)
            {
                var perReplica = load[e] / counts[e];
                if (counts[e] < maxPerExpert && (best < 0 || perReplica > bestLoad))
                {
                    best = e;
                    bestLoad = perReplica;
                }
            }

            replicaOf[i] = best;
            counts[best]++;
        }

        return (replicaOf, counts);
    }

    /// <summary>
    /// EPLB's balanced packing: item i (weight <paramref name="weight"/>[i], label <paramref name="label"/>[i]) in order of
    /// weight, heaviest first (ties: lower index first), to the pack with the least weight (float32 sums; ties: lowest
    /// index) that has a free slot, and with <paramref name="distinct"/> no item of the same label yet. When every pack
    /// has one slot, item i goes to pack i, as in the original. Returns <c>[pack]</c> → the labels placed and
    /// <c>[label]</c> → the packs holding it, both in placing order, or null when the distinct rule leaves an item nowhere
    /// to go. Labels are <c>0..max(label)</c>.
    /// </summary>
    private static (List<int>[] Packs, List<int>[] PacksOf)? Pack(float[] weight, int[] label, int[] slots, bool distinct)
    {
        var packs = slots.Select(_ => new List<int>()).ToArray();
        var packsOf = Enumerable.Range(0, label.Max() + 1).Select(_ => new List<int>()).ToArray();
        if (slots.All(s => s == 1) && slots.Length == weight.Length)
        {
            for (var i = 0; i < weight.Length; i++)
            {
                packs[i].Add(label[i]);
                packsOf[label[i]].Add(i);
            }

            return (packs, packsOf);
        }

        var order = Enumerable.Range(0, weight.Length).OrderByDescending(i => weight[i]).ToArray();
        var packWeight = new float[slots.Length];
        var itemWeight = new Dictionary<(int Pack, int Label), float>();
        foreach (var i in order)
        {
            var best = -1;
            for (var p = 0; p < slots.Length; p++)
            {
                if (packs[p].Count < slots[p] && !(distinct && packs[p].Contains(label[i])) && (best < 0 || packWeight[p] < packWeight[best]))
                {
                    best = p;
                }
            }

            if (best < 0 && !TryMakeRoom(label[i], slots, packs, packsOf, packWeight, itemWeight, out best))
            {
                return null;
            }

            packs[best].Add(label[i]);
            packsOf[label[i]].Add(best);
            packWeight[best] += weight[i];
            itemWeight[(best, label[i])] = weight[i];
        }

        return (packs, packsOf);
    }

    /// <summary>
    /// Every pack with a free slot already holds <paramref name="label"/>: move another label f from a full pack p that
    /// lacks <paramref name="label"/> to a free pack q that lacks f, so that p has room.
    /// </summary>
    private static bool TryMakeRoom(int label, int[] slots, List<int>[] packs, List<int>[] packsOf, float[] packWeight, Dictionary<(int Pack, int Label), float> itemWeight, out int room)
    {
        for (var q = 0; q < packs.Length; q++)
        {
            if (packs[q].Count >= slots[q])
            {
                continue;
            }

            for (var p = 0; p < packs.Length; p++)
            {
                if (p == q || packs[p].Contains(label))
                {
                    continue;
                }

                var f = packs[p].FindIndex(x => !packs[q].Contains(x));
                if (f < 0)
                {
                    continue;
                }

                var moved = packs[p][f];
                var w = itemWeight[(p, moved)];
                packs[p].RemoveAt(f);
                packs[q].Add(moved);
                packsOf[moved][packsOf[moved].IndexOf(p)] = q;
                itemWeight.Remove((p, moved));
                itemWeight[(q, moved)] = w;
                packWeight[p] -= w;
                packWeight[q] += w;
                room = p;
                return true;
            }
        }

        room = -1;
        return false;
    }
}

/// <summary>One layer placed by <see cref="EplbPolicy"/>.</summary>
/// <param name="OnPod"><c>[pod][slot] → expert</c>, slots in the order the packing filled them (the original's
/// <c>phy2log</c>, one pod after another).</param>
/// <param name="PodsOf"><c>[expert] → pods</c>, in the order the expert's replicas were placed (its replica ranks).</param>
internal sealed record EplbLayer(int[][] OnPod, int[][] PodsOf);
