using System.Diagnostics;
using System.Globalization;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>One step of a scale change (or of a load-balancing re-placement on the same pods).</summary>
/// <param name="Plan">The next plan (version = live + 1): on the live pods while a scale-in still has replicas on leaving pods, else on the target pods.</param>
/// <param name="Moves">Replicas the next plan creates that the live plan lacks (never more than the budget).</param>
/// <param name="Dropped">Redundant replicas on leaving pods that no staying pod could take, removed (they cost no move).</param>
/// <param name="Complete">True when no replica is left on a pod at or above the target pod count (the plan is on the target pods).</param>
/// <param name="ImbalanceBefore">Expert-load imbalance of the live plan towards the target: mean over layers of max pod load / (layer load / target pods).</param>
/// <param name="ImbalanceAfter">The same for the next plan.</param>
/// <param name="RemoteBefore">Simulated remote fraction of the live plan on the profile's sample; null for a load-only profile.</param>
/// <param name="RemoteAfter">The same for the next plan.</param>
/// <param name="Note">A line of detail.</param>
public sealed record ScalingStep(PlacementPlan Plan, int Moves, int Dropped, bool Complete, double ImbalanceBefore, double ImbalanceAfter, double? RemoteBefore, double? RemoteAfter, string Note)
{
    /// <summary>Relative drop in imbalance ((before − after) / before); 0 when before is 0.</summary>
    public double Gain => ImbalanceBefore > 0 ? (ImbalanceBefore - ImbalanceAfter) / ImbalanceBefore : 0;
}

/// <summary>
/// Scale changes under a move budget (DESIGN.md §3, the transition the <see cref="IncrementalPlanner"/> cannot make
/// because it keeps the pod count). Given a live plan on P pods, a target of Q pods and a budget of M moves, it returns
/// the next plan step:
/// <list type="bullet">
/// <item>scale-in (Q &lt; P): replicas on the leaving pods (ids ≥ Q) are moved first, heaviest per replica first, each
/// to the staying pod with room that gains most (balance, plus remote fraction with a sampled profile). While the
/// budget runs out first, the step is a plan on the P live pods whose leaving pods hold fewer replicas; the step that
/// empties them is a plan on Q pods. A redundant replica that no staying pod can take (every one holds the expert or is
/// full) is dropped, which costs no move.</item>
/// <item>scale-out (Q &gt; P): the plan is put on Q pods and at most M replicas move onto the new pods, greedily, each
/// move the one that most lowers load imbalance (sum of squared pod loads per layer) plus, with a profile holding
/// sampled tokens, the weighted remote fraction (tokens homed on the target pods as the ilp solver homes them).</item>
/// <item>same pod count: the same greedy moves between any pods — load-balancing re-placement for a load-only profile,
/// which <see cref="IncrementalPlanner"/> cannot score.</item>
/// </list>
/// A scale-in that empties the leaving pods spends the budget left on those moves too. Replica counts are kept (except
/// drops), at most one replica of an expert per pod, and every destination respects its pod's capacity and
/// <see cref="ScalingOptions.LayerSlots"/>. Deterministic: ties go to the lowest layer, expert and pod.
/// </summary>
public static class ScalingPlanner
{
    private const double Epsilon = 1e-12;

    /// <summary>The next step from <paramref name="live"/> towards <paramref name="targetPods"/> pods; bad input throws <see cref="ArgumentException"/>.</summary>
    public static ScalingStep Next(PlacementPlan live, int targetPods, int maxMoves, WorkloadProfile profile, ScalingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(live);
        ArgumentNullException.ThrowIfNull(profile);
        options ??= new ScalingOptions();
        options.Validate();
        if (targetPods < 1)
        {
            throw new ArgumentException($"the target pod count must be at least 1 (got {targetPods}).", nameof(targetPods));
        }

        if (maxMoves < 1)
        {
            throw new ArgumentException($"the move budget must be at least 1 (got {maxMoves}): a step that may move nothing cannot make progress.", nameof(maxMoves));
        }

        if (live.Layers != profile.Layers || live.Experts != profile.Experts)
        {
            throw new ArgumentException($"the live plan is [{live.Layers} layers x {live.Experts} experts], the profile [{profile.Layers} x {profile.Experts}].", nameof(profile));
        }

        var watch = Stopwatch.StartNew();
        var state = new Transition(live, targetPods, profile, options);
        var budget = maxMoves;
        var dropped = 0;
        if (targetPods < live.PodCount)
        {
            (budget, dropped) = state.Evict(budget);
        }

        var complete = state.LeavingEmpty;
        var balanced = 0;
        if (complete && budget > 0)
        {
            balanced = state.Balance(budget);
        }

        var podCount = complete ? targetPods : live.PodCount;
        var assignment = state.Assignment(podCount);
        var moves = Moves(live, assignment);
        var pods = Enumerable.Range(0, podCount).Select(p => new PodSpec(p, state.Capacity[p])).ToArray();
        var imbalanceBefore = TargetImbalance(profile, live.ToAssignment(), live.PodCount, targetPods);
        var imbalanceAfter = TargetImbalance(profile, assignment, podCount, targetPods);
        var note = string.Create(CultureInfo.InvariantCulture,
            $"{live.PodCount} -> {targetPods} pods: {moves} move(s) of at most {maxMoves} ({balanced} for balance), {dropped} redundant replica(s) dropped, {(complete ? "complete" : "leaving pods not yet empty")}");
        var info = live.Info with
        {
            Version = live.Info.Version + 1,
            CreatedUtc = options.Time.GetUtcNow(),
            ProfileName = profile.Name,
            ProfileFingerprint = profile.Fingerprint(),
            Solve = new SolveSummary(SolveStatus.Feasible, imbalanceAfter, null, watch.Elapsed.TotalSeconds, note),
            Predicted = null,
        };
        var plan = new PlacementPlan(info, pods, assignment);
        var predicted = PlanBuilder.Predict(plan, profile);
        plan = plan.WithInfo(info with { Predicted = predicted });
        var remoteBefore = predicted is null ? (double?)null : PlanBuilder.Predict(live, profile)!.RemoteFraction;
        return new ScalingStep(plan, moves, dropped, complete, imbalanceBefore, imbalanceAfter, remoteBefore, predicted?.RemoteFraction, note);
    }

    /// <summary>Mean over layers with load of (max pod load over every pod) / (layer load / <paramref name="target"/>), each expert's load split evenly over its replicas.</summary>
    internal static double TargetImbalance(WorkloadProfile profile, int[][][] assignment, int pods, int target)
    {
        var sum = 0.0;
        var counted = 0;
        var podLoad = new double[pods];
        for (var l = 0; l < profile.Layers; l++)
        {
            Array.Clear(podLoad);
            double total = 0;
            for (var e = 0; e < profile.Experts; e++)
            {
                var replicas = assignment[l][e];
                total += profile.LoadOf(l, e);
                foreach (var p in replicas)
                {
                    podLoad[p] += (double)profile.LoadOf(l, e) / replicas.Length;
                }
            }

            if (total > 0)
            {
                sum += podLoad.Max() / (total / target);
                counted++;
            }
        }

        return counted == 0 ? 1 : sum / counted;
    }

    private static int Moves(PlacementPlan live, int[][][] next)
    {
        var moves = 0;
        for (var l = 0; l < next.Length; l++)
        {
            for (var e = 0; e < next[l].Length; e++)
            {
                foreach (var p in next[l][e])
                {
                    moves += p < live.PodCount && live.Holds(p, l, e) ? 0 : 1;
                }
            }
        }

        return moves;
    }

    /// <summary>The mutable state of one step: replicas, per-layer and total pod counts, and the objective's terms.</summary>
    private sealed class Transition
    {
        private readonly WorkloadProfile _profile;
        private readonly ScalingOptions _options;
        private readonly int _layers;
        private readonly int _experts;
        private readonly int _live;
        private readonly int _target;
        private readonly int _layerSlots;
        private readonly List<int>[][] _replicas;
        private readonly int[][] _perLayer;
        private readonly int[] _total;
        private readonly double[][] _podLoad;
        private readonly double[] _norm;
        private readonly double[][]? _affinity;
        private readonly double _sampleDispatches;

        public Transition(PlacementPlan live, int target, WorkloadProfile profile, ScalingOptions options)
        {
            _profile = profile;
            _options = options;
            _layers = live.Layers;
            _experts = live.Experts;
            _live = live.PodCount;
            _target = target;
            var pods = Math.Max(_live, target);
            _layerSlots = options.LayerSlots ?? _experts;
            var largest = live.Pods.Max(p => p.Capacity);
            Capacity = Enumerable.Range(0, pods).Select(p => options.PodCapacity ?? (p < _live ? live.Pods[p].Capacity : largest)).ToArray();
            _replicas = Enumerable.Range(0, _layers).Select(l => Enumerable.Range(0, _experts).Select(e => live.PodsOf(l, e).ToArray().ToList()).ToArray()).ToArray();
            _perLayer = Enumerable.Range(0, _layers).Select(_ => new int[pods]).ToArray();
            _total = new int[pods];
            for (var l = 0; l < _layers; l++)
            {
                for (var e = 0; e < _experts; e++)
                {
                    foreach (var p in _replicas[l][e])
                    {
                        _perLayer[l][p]++;
                        _total[p]++;
                    }
                }
            }

            Check();
            _podLoad = Enumerable.Range(0, _layers).Select(_ => new double[pods]).ToArray();
            _norm = new double[_layers];
            for (var l = 0; l < _layers; l++)
            {
                RefreshLoads(l);
                var mean = (double)Enumerable.Range(0, _experts).Sum(e => profile.LoadOf(l, e)) / target;
                _norm[l] = mean * mean * target * _layers;
            }

            if (!profile.IsLoadOnly && profile.Sample.Tokens > 0 && options.RemoteWeight > 0)
            {
                // Tokens homed on the target pods (balanced, best in hindsight) on the replicas that stay.
                var staying = Enumerable.Range(0, _layers)
                    .Select(l => Enumerable.Range(0, _experts).Select(e => _replicas[l][e].Where(p => p < target).ToArray()).ToArray()).ToArray();
                var (homes, _) = TokenHomes.Assign(profile.Sample, staying, target, options.HomeSlack);
                _affinity = Enumerable.Range(0, _layers).Select(l => TokenHomes.Affinity(profile.Sample, homes, l, _experts, target)).ToArray();
                _sampleDispatches = (double)profile.Sample.Tokens * _layers * profile.TopK;
            }
        }

        /// <summary>Capacity of every pod (live and new).</summary>
        public int[] Capacity { get; }

        /// <summary>No replica is left on a pod at or above the target.</summary>
        public bool LeavingEmpty
        {
            get
            {
                for (var p = _target; p < _total.Length; p++)
                {
                    if (_total[p] > 0)
                    {
                        return false;
                    }
                }

                return true;
            }
        }

        /// <summary>The assignment on the first <paramref name="pods"/> pods.</summary>
        public int[][][] Assignment(int pods) =>
            _replicas.Select(layer => layer.Select(r => r.Where(p => p < pods).ToArray()).ToArray()).ToArray();

        /// <summary>Moves (or drops) replicas off the leaving pods, heaviest per replica first; returns the budget left and the drops.</summary>
        public (int Budget, int Dropped) Evict(int budget)
        {
            var dropped = 0;
            var leaving = new List<(int Layer, int Expert, int Pod, double Weight)>();
            for (var l = 0; l < _layers; l++)
            {
                for (var e = 0; e < _experts; e++)
                {
                    foreach (var p in _replicas[l][e].Where(p => p >= _target))
                    {
                        leaving.Add((l, e, p, Weight(l, e)));
                    }
                }
            }

            foreach (var (l, e, from, _) in leaving.OrderByDescending(r => r.Weight).ThenBy(r => r.Layer).ThenBy(r => r.Expert).ThenBy(r => r.Pod))
            {
                var to = BestDestination(l, e, from);
                if (to < 0 && _replicas[l][e].Count > 1)
                {
                    Drop(l, e, from);
                    dropped++;
                    continue;
                }

                if (budget == 0)
                {
                    continue;
                }

                if (to < 0 && FreeSlot(l, e))
                {
                    dropped++;
                    to = BestDestination(l, e, from);
                }

                if (to < 0)
                {
                    throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                        $"layer {l}, expert {e} cannot leave pod {from}: no pod below {_target} has a free slot (capacities {string.Join(", ", Capacity.Take(_target))}, {_layerSlots} per layer)."));
                }

                Move(l, e, from, to);
                budget--;
            }

            return (budget, dropped);
        }

        /// <summary>Greedy balance (and remote-fraction) moves onto the destination pods; returns the moves made.</summary>
        public int Balance(int budget)
        {
            var (first, last) = _target > _live ? (_live, _target) : (0, _target);
            var best = new (int Expert, int From, int To, double Gain)?[_layers];
            for (var l = 0; l < _layers; l++)
            {
                best[l] = BestMove(l, first, last);
            }

            var moves = 0;
            while (moves < budget)
            {
                var pick = -1;
                for (var l = 0; l < _layers; l++)
                {
                    if (best[l] is { } m && (pick < 0 || m.Gain > best[pick]!.Value.Gain + Epsilon))
                    {
                        pick = l;
                    }
                }

                if (pick < 0)
                {
                    break;
                }

                var move = best[pick]!.Value;
                if (!HasRoom(pick, move.Expert, move.To))
                {
                    // Another layer's move filled the destination pod's capacity since: look again.
                    best[pick] = BestMove(pick, first, last);
                    continue;
                }

                Move(pick, move.Expert, move.From, move.To);
                moves++;
                best[pick] = BestMove(pick, first, last);
            }

            return moves;
        }

        private (int Expert, int From, int To, double Gain)? BestMove(int layer, int first, int last)
        {
            (int Expert, int From, int To, double Gain)? best = null;
            for (var e = 0; e < _experts; e++)
            {
                foreach (var from in _replicas[layer][e])
                {
                    for (var to = first; to < last; to++)
                    {
                        if (to == from || !HasRoom(layer, e, to) || !UnderCap(layer, e, to))
                        {
                            continue;
                        }

                        var gain = Gain(layer, e, from, to);
                        if (gain > Epsilon && (best is null || gain > best.Value.Gain + Epsilon))
                        {
                            best = (e, from, to, gain);
                        }
                    }
                }
            }

            return best;
        }

        private int BestDestination(int layer, int expert, int from)
        {
            var best = -1;
            var bestGain = double.NegativeInfinity;
            for (var to = 0; to < _target; to++)
            {
                if (!HasRoom(layer, expert, to))
                {
                    continue;
                }

                var gain = Gain(layer, expert, from, to);
                if (best < 0 || gain > bestGain + Epsilon)
                {
                    best = to;
                    bestGain = gain;
                }
            }

            return best;
        }

        /// <summary>
        /// A sole replica finds no slot: drop a redundant replica of another expert (lightest per replica) from a staying
        /// pod that lacks <paramref name="expert"/>, to make room.
        /// </summary>
        private bool FreeSlot(int layer, int expert)
        {
            (int Expert, int Pod, double Weight)? victim = null;
            for (var f = 0; f < _experts; f++)
            {
                if (f == expert || _replicas[layer][f].Count(p => p < _target) < 2)
                {
                    continue;
                }

                foreach (var p in _replicas[layer][f].Where(p => p < _target && !_replicas[layer][expert].Contains(p)))
                {
                    var w = Weight(layer, f);
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

            Drop(layer, v.Expert, v.Pod);
            return true;
        }

        private bool HasRoom(int layer, int expert, int pod) =>
            _perLayer[layer][pod] < _layerSlots && _total[pod] < Capacity[pod] && !_replicas[layer][expert].Contains(pod);

        /// <summary>A voluntary move must not lift its destination above the layer's hottest staying pod or (1 + slack) × the mean.</summary>
        private bool UnderCap(int layer, int expert, int to)
        {
            var loads = _podLoad[layer];
            double max = 0, sum = 0;
            for (var p = 0; p < _target; p++)
            {
                max = Math.Max(max, loads[p]);
                sum += loads[p];
            }

            var cap = Math.Max(max, (1 + _options.LoadSlack) * sum / _target);
            return loads[to] + Weight(layer, expert) <= cap + Epsilon;
        }

        /// <summary>
        /// Drop in the layer's normalised sum of squared staying-pod loads (leaving pods do not count), plus the weighted
        /// rise in local dispatches of the sampled tokens, when (layer, expert) moves from <paramref name="from"/> to <paramref name="to"/>.
        /// </summary>
        private double Gain(int layer, int expert, int from, int to)
        {
            var w = Weight(layer, expert);
            var loads = _podLoad[layer];
            var balance = 0.0;
            if (_norm[layer] > 0)
            {
                var delta = (2 * w * loads[to]) + (w * w);
                if (from < _target)
                {
                    delta += (w * w) - (2 * w * loads[from]);
                }

                balance = -delta / _norm[layer];
            }

            if (_affinity is null)
            {
                return balance;
            }

            var affinity = _affinity[layer];
            var local = affinity[(expert * _target) + to] - (from < _target ? affinity[(expert * _target) + from] : 0);
            return balance + (_options.RemoteWeight * local / _sampleDispatches);
        }

        private double Weight(int layer, int expert) => (double)_profile.LoadOf(layer, expert) / _replicas[layer][expert].Count;

        private void Move(int layer, int expert, int from, int to)
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

        private void Drop(int layer, int expert, int pod)
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
            for (var e = 0; e < _experts; e++)
            {
                var w = Weight(layer, e);
                foreach (var p in _replicas[layer][e])
                {
                    loads[p] += w;
                }
            }
        }

        /// <summary>The live plan must fit the limits on the pods that stay, and the target pods must hold one replica of every expert.</summary>
        private void Check()
        {
            var problems = new List<string>();
            for (var p = 0; p < Math.Min(_live, _target); p++)
            {
                if (_total[p] > Capacity[p])
                {
                    problems.Add($"the live plan puts {_total[p]} replicas on pod {p}, over its capacity of {Capacity[p]}");
                }

                for (var l = 0; l < _layers; l++)
                {
                    if (_perLayer[l][p] > _layerSlots)
                    {
                        problems.Add($"the live plan puts {_perLayer[l][p]} replicas of layer {l} on pod {p}, over the {_layerSlots} slots per layer");
                        break;
                    }
                }
            }

            if ((long)_target * Math.Min(_layerSlots, _experts) < _experts)
            {
                problems.Add($"{_target} pods x {_layerSlots} slots per layer cannot hold the {_experts} experts of a layer");
            }

            var usable = Capacity.Take(_target).Sum(c => Math.Min((long)c, (long)_layers * Math.Min(_layerSlots, _experts)));
            if (usable < (long)_layers * _experts)
            {
                problems.Add($"{_target} pods with capacities {string.Join(", ", Capacity.Take(_target))} cannot hold {_layers} layers x {_experts} experts");
            }

            if (problems.Count > 0)
            {
                throw new ArgumentException(string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : "") + ".");
            }
        }
    }
}
