using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Autoscaling;

/// <summary>
/// The mutable assignment an <see cref="ExpertReplicaAutoscaler"/> step edits: replicas per (layer, expert), replicas
/// per pod (all layers and per layer) against the pods' capacities and the layer slots, and the layer's load shares.
/// </summary>
internal sealed class AutoscaleState
{
    private readonly List<int>[][] _replicas;
    private readonly int[] _podTotal;
    private readonly int[][] _layerCount;
    private readonly int[] _capacity;
    private readonly double[] _layerLoad;
    private readonly WorkloadProfile _load;

    public AutoscaleState(PlacementPlan live, WorkloadProfile load, ExpertAutoscalingOptions options)
    {
        _load = load;
        Options = options;
        Layers = live.Layers;
        Experts = live.Experts;
        Pods = live.PodCount;
        _replicas = [.. Enumerable.Range(0, Layers).Select(l => Enumerable.Range(0, Experts).Select(e => new List<int>(live.PodsOf(l, e).ToArray())).ToArray())];
        _podTotal = [.. Enumerable.Range(0, Pods).Select(p => live.ReplicasOn(p).Count)];
        _layerCount = [.. Enumerable.Range(0, Layers).Select(live.ReplicasPerPod)];
        _capacity = [.. live.Pods.Select(p => p.Capacity)];
        _layerLoad = [.. Enumerable.Range(0, Layers).Select(l => (double)Enumerable.Range(0, Experts).Sum(e => load.LoadOf(l, e)))];
    }

    public ExpertAutoscalingOptions Options { get; }

    public int Layers { get; }

    public int Experts { get; }

    public int Pods { get; }

    public int Count(int layer, int expert) => _replicas[layer][expert].Count;

    /// <summary>Extra replicas of the layer (beyond one per expert).</summary>
    public int Redundant(int layer) => _replicas[layer].Sum(r => r.Count) - Experts;

    /// <summary>The expert's share of its layer's dispatches (0 when the layer has none).</summary>
    public double Share(int layer, int expert) => _layerLoad[layer] > 0 ? _load.LoadOf(layer, expert) / _layerLoad[layer] : 0;

    public double Imbalance(int layer) => ExpertLoadImbalance.OfLayer(_load, layer, _replicas[layer], Pods);

    /// <summary>The layer's imbalance with one replica of <paramref name="expert"/> added on, or retired from, <paramref name="pod"/>.</summary>
    public double ImbalanceWith(int layer, int expert, int pod, bool add)
    {
        var replicas = _replicas[layer][expert];
        var index = add ? replicas.Count : replicas.IndexOf(pod);
        if (add)
        {
            replicas.Add(pod);
        }
        else
        {
            replicas.RemoveAt(index);
        }

        var imbalance = Imbalance(layer);
        if (add)
        {
            replicas.RemoveAt(index);
        }
        else
        {
            replicas.Insert(index, pod);
        }

        return imbalance;
    }

    /// <summary>Each pod's predicted load in the layer (each expert's load split evenly over its replicas).</summary>
    public double[] PodLoads(int layer)
    {
        var loads = new double[Pods];
        for (var e = 0; e < Experts; e++)
        {
            var share = (double)_load.LoadOf(layer, e) / Count(layer, e);
            foreach (var p in _replicas[layer][e])
            {
                loads[p] += share;
            }
        }

        return loads;
    }

    /// <summary>The loads of the pods holding the expert.</summary>
    public IEnumerable<double> HolderLoads(int layer, int expert, double[] podLoads) => _replicas[layer][expert].Select(p => podLoads[p]);

    /// <summary>
    /// The pod a new replica goes to: one without the expert with room (capacity and layer slots) whose layer imbalance is
    /// lowest; among those within 0.1% of it, the most co-activated with the expert; then the lowest id. Null: no room.
    /// </summary>
    public int? BestPodToAdd(int layer, int expert)
    {
        var scored = new List<(int Pod, double Imbalance)>();
        for (var p = 0; p < Pods; p++)
        {
            if (!_replicas[layer][expert].Contains(p) && _podTotal[p] < _capacity[p] && (Options.LayerSlots is not { } slots || _layerCount[layer][p] < slots))
            {
                scored.Add((p, ImbalanceWith(layer, expert, p, add: true)));
            }
        }

        if (scored.Count == 0)
        {
            return null;
        }

        var best = scored.Min(s => s.Imbalance);
        return scored.Where(s => s.Imbalance <= best * 1.001)
            .OrderByDescending(s => Affinity(layer, expert, s.Pod))
            .ThenBy(s => s.Imbalance)
            .ThenBy(s => s.Pod)
            .First().Pod;
    }

    /// <summary>The replica to retire: the holder whose loss leaves the lowest layer imbalance (least co-activated, then highest id on ties).</summary>
    public (int Pod, double Imbalance) BestPodToRetire(int layer, int expert) =>
        _replicas[layer][expert].ToArray()
            .Select(p => (Pod: p, Imbalance: ImbalanceWith(layer, expert, p, add: false)))
            .OrderBy(s => s.Imbalance)
            .ThenBy(s => Affinity(layer, expert, s.Pod))
            .ThenByDescending(s => s.Pod)
            .First();

    public void Add(int layer, int expert, int pod)
    {
        _replicas[layer][expert].Add(pod);
        _podTotal[pod]++;
        _layerCount[layer][pod]++;
    }

    public void Retire(int layer, int expert, int pod)
    {
        _replicas[layer][expert].Remove(pod);
        _podTotal[pod]--;
        _layerCount[layer][pod]--;
    }

    public int[][][] ToAssignment() => [.. _replicas.Select(layer => layer.Select(r => r.ToArray()).ToArray())];

    /// <summary>
    /// Transitions between the expert and the experts the pod holds in the neighbouring layers: tokens that would find the
    /// replica on the pod where their previous or next expert already is (0 for a load-only profile).
    /// </summary>
    private long Affinity(int layer, int expert, int pod)
    {
        if (_load.Transitions is not { } t)
        {
            return 0;
        }

        long sum = 0;
        var e2 = Experts * Experts;
        for (var f = 0; f < Experts; f++)
        {
            if (layer > 0 && _replicas[layer - 1][f].Contains(pod))
            {
                sum += t[((layer - 1) * e2) + (f * Experts) + expert];
            }

            if (layer < Layers - 1 && _replicas[layer + 1][f].Contains(pod))
            {
                sum += t[(layer * e2) + (expert * Experts) + f];
            }
        }

        return sum;
    }
}
