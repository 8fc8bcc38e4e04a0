using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The mutable state of one <see cref="ScalingPlanner"/> step: every replica (on live and new pods), the replica
/// counts per pod in each layer and in all, and each layer's load per pod, kept in step by <see cref="Move"/> and
/// <see cref="Drop"/>. Pods are numbered 0 … max(live, target) − 1; those at or above the target are leaving.
/// </summary>
internal sealed class ScaleStepState
{
    private readonly WorkloadProfile _profile;
    private readonly List<int>[][] _replicas;
    private readonly int[][] _perLayer;
    private readonly int[] _total;
    private readonly double[][] _podLoad;
    private readonly ScaleObjective _objective;

    /// <summary>The state of <paramref name="live"/> towards <paramref name="target"/> pods; a live plan that breaks the limits throws <see cref="ArgumentException"/>.</summary>
    public ScaleStepState(PlacementPlan live, int target, WorkloadProfile profile, ScalingOptions options)
    {
        _profile = profile;
        Layers = live.Layers;
        Experts = live.Experts;
        LivePods = live.PodCount;
        Target = target;
        var pods = Math.Max(LivePods, target);
        LayerSlots = options.LayerSlots ?? Experts;
        var largest = live.Pods.Max(p => p.Capacity);
        Capacity = Enumerable.Range(0, pods).Select(p => options.PodCapacity ?? (p < LivePods ? live.Pods[p].Capacity : largest)).ToArray();
        _replicas = Enumerable.Range(0, Layers).Select(l => Enumerable.Range(0, Experts).Select(e => live.PodsOf(l, e).ToArray().ToList()).ToArray()).ToArray();
        _perLayer = Enumerable.Range(0, Layers).Select(_ => new int[pods]).ToArray();
        _total = new int[pods];
        for (var l = 0; l < Layers; l++)
        {
            for (var e = 0; e < Experts; e++)
            {
                foreach (var p in _replicas[l][e])
                {
                    _perLayer[l][p]++;
                    _total[p]++;
                }
            }
        }

        CheckLimits();
        _podLoad = Enumerable.Range(0, Layers).Select(_ => new double[pods]).ToArray();
        for (var l = 0; l < Layers; l++)
        {
            RefreshLoads(l);
        }

        _objective = new ScaleObjective(profile, options, Assignment(target), target);
    }

    public int Layers { get; }

    public int Experts { get; }

    /// <summary>Pods of the live plan.</summary>
    public int LivePods { get; }

    /// <summary>The target pod count: pods below it stay (or are new), pods at or above it leave.</summary>
    public int Target { get; }

    /// <summary>Most replicas of one layer on one pod (<see cref="ScalingOptions.LayerSlots"/>, else the expert count).</summary>
    public int LayerSlots { get; }

    /// <summary>Capacity of every pod (live and new).</summary>
    public int[] Capacity { get; }

    /// <summary>No replica is left on a pod at or above the target.</summary>
    public bool LeavingEmpty
    {
        get
        {
            for (var p = Target; p < _total.Length; p++)
            {
                if (_total[p] > 0)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>The pods that hold (layer, expert) now.</summary>
    public IReadOnlyList<int> ReplicasOf(int layer, int expert) => _replicas[layer][expert];

    /// <summary>The assignment on the first <paramref name="pods"/> pods.</summary>
    public int[][][] Assignment(int pods) =>
        _replicas.Select(layer => layer.Select(r => r.Where(p => p < pods).ToArray()).ToArray()).ToArray();

    /// <summary>The pod has a free slot in the layer and in all, and no replica of the expert yet.</summary>
    public bool HasRoom(int layer, int expert, int pod) =>
        _perLayer[layer][pod] < LayerSlots && _total[pod] < Capacity[pod] && !_replicas[layer][expert].Contains(pod);

    /// <summary>See <see cref="ScaleObjective.UnderCap"/>.</summary>
    public bool UnderCap(int layer, int expert, int to) => _objective.UnderCap(_podLoad[layer], Weight(layer, expert), to);

    /// <summary>See <see cref="ScaleObjective.Gain"/>.</summary>
    public double Gain(int layer, int expert, int from, int to) => _objective.Gain(layer, expert, Weight(layer, expert), _podLoad[layer], from, to);

    /// <summary>The load one replica of (layer, expert) serves: the expert's load split evenly over its replicas.</summary>
    public double Weight(int layer, int expert) => (double)_profile.LoadOf(layer, expert) / _replicas[layer][expert].Count;

    public void Move(int layer, int expert, int from, int to)
    {
        var replicas = _replicas[layer][expert];
        replicas[replicas.IndexOf(from)] = to;
        _perLayer[layer][from]--;
        _total[from]--;
        _perLayer[layer][to]++;
        _total[to]++;
        var w = Weight(layer, expert);
        _podLoad[layer][from] -= w;
        _podLoad[layer][to] += w;
    }

    /// <summary>Removes the replica of (layer, expert) on <paramref name="pod"/>; the expert's other replicas take its load.</summary>
    public void Drop(int layer, int expert, int pod)
    {
        _replicas[layer][expert].Remove(pod);
        _perLayer[layer][pod]--;
        _total[pod]--;
        RefreshLoads(layer);
    }

    private void RefreshLoads(int layer)
    {
        var loads = _podLoad[layer];
        Array.Clear(loads);
        for (var e = 0; e < Experts; e++)
        {
            var w = Weight(layer, e);
            foreach (var p in _replicas[layer][e])
            {
                loads[p] += w;
            }
        }
    }

    /// <summary>The live plan must fit the limits on the pods that stay, and the target pods must hold one replica of every expert.</summary>
    private void CheckLimits()
    {
        var problems = new List<string>();
        for (var p = 0; p < Math.Min(LivePods, Target); p++)
        {
            if (_total[p] > Capacity[p])
            {
                problems.Add($"the live plan puts {_total[p]} replicas on pod {p}, over its capacity of {Capacity[p]}");
            }

            for (var l = 0; l < Layers; l++)
            {
                if (_perLayer[l][p] > LayerSlots)
                {
                    problems.Add($"the live plan puts {_perLayer[l][p]} replicas of layer {l} on pod {p}, over the {LayerSlots} slots per layer");
                    break;
                }
            }
        }

        if ((long)Target * Math.Min(LayerSlots, Experts) < Experts)
        {
            problems.Add($"{Target} pods x {LayerSlots} slots per layer cannot hold the {Experts} experts of a layer");
        }

        var usable = Capacity.Take(Target).Sum(c => Math.Min((long)c, (long)Layers * Math.Min(LayerSlots, Experts)));
        if (usable < (long)Layers * Experts)
        {
            problems.Add($"{Target} pods with capacities {string.Join(", ", Capacity.Take(Target))} cannot hold {Layers} layers x {Experts} experts");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : "") + ".");
        }
    }
}
