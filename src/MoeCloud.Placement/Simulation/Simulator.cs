using MoeCloud.Model.Traces;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// Replays routing against a plan and a home policy and computes the DESIGN.md §2 metrics
/// (<see cref="SimulationMetrics"/> documents each definition). Tokens run in trace order; within a token, layer by
/// layer, slot by slot. This is the single implementation of the metrics.
/// </summary>
public static class Simulator
{
    /// <summary>Replays <paramref name="trace"/>. <paramref name="model"/> is needed by the speculative policy and by re-homing.</summary>
    public static SimulationMetrics Run(PlacementPlan plan, RoutingTrace trace, SimulationOptions options, TransitionModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return Run(plan, RoutingView.Of(trace), options, model, trace.Manifest.Name, homes: null);
    }

    /// <summary>
    /// Replays <paramref name="trace"/> as <see cref="Run(PlacementPlan, RoutingTrace, SimulationOptions, TransitionModel?)"/>
    /// does and also counts every cross-pod transfer into <paramref name="traffic"/> (for <see cref="TimeModel"/>).
    /// </summary>
    public static SimulationMetrics Run(PlacementPlan plan, RoutingTrace trace, SimulationOptions options, TransitionModel? model, PodTraffic traffic)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(traffic);
        if (traffic.Layers != plan.Layers || traffic.Pods != plan.PodCount)
        {
            throw new ArgumentException($"traffic of {traffic.Layers} layers × {traffic.Pods} pods for a plan of {plan.Layers} layers on {plan.PodCount} pods.", nameof(traffic));
        }

        return Run(plan, RoutingView.Of(trace), options, model, trace.Manifest.Name, homes: null, traffic);
    }

    /// <summary>
    /// The first home pod of every token of <paramref name="trace"/>, exactly as <see cref="Run(PlacementPlan, RoutingTrace, SimulationOptions, TransitionModel?)"/>
    /// chooses them, so that a live replay can send each token where the simulator homed it.
    /// </summary>
    public static int[] AssignHomes(PlacementPlan plan, RoutingTrace trace, SimulationOptions options, TransitionModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var needsModel = options.Home == HomePolicy.Speculative || options.Rehome;
        if (needsModel && model is null)
        {
            throw new ArgumentException("the speculative policy and re-homing need transition statistics (a profile from a routing trace).", nameof(model));
        }

        var predictor = needsModel ? new SpeculativeHomePredictor(plan, model!, options.Speculative) : null;
        return new HomeAssigner(plan, RoutingView.Of(trace), options, predictor).Assign();
    }

    /// <summary>
    /// Replays <paramref name="trace"/> with each token's first home given (for example the homes a live gateway chose),
    /// so that a live replay's dispatch counts can be checked against the simulator's. <paramref name="options"/>'s home
    /// policy is not used; re-homing, if asked for, needs <paramref name="model"/>.
    /// </summary>
    public static SimulationMetrics Run(PlacementPlan plan, RoutingTrace trace, IReadOnlyList<int> homes, SimulationOptions options, TransitionModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(homes);
        if (homes.Count != trace.Tokens)
        {
            throw new ArgumentException($"{homes.Count} homes for the {trace.Tokens} tokens of trace '{trace.Manifest.Name}'.", nameof(homes));
        }

        if (homes.Any(h => (uint)h >= (uint)plan.PodCount))
        {
            throw new ArgumentException($"a home is outside [0, {plan.PodCount}).", nameof(homes));
        }

        return Run(plan, RoutingView.Of(trace), options, model, trace.Manifest.Name, [.. homes]);
    }

    /// <summary>Replays a profile's token sample (how solvers predict a plan's metrics).</summary>
    public static SimulationMetrics Run(PlacementPlan plan, TokenSample sample, SimulationOptions options, TransitionModel? model = null)
    {
        ArgumentNullException.ThrowIfNull(sample);
        return Run(plan, RoutingView.Of(sample), options, model, "token sample", homes: null);
    }

    private static SimulationMetrics Run(PlacementPlan plan, RoutingView routing, SimulationOptions options, TransitionModel? model, string name, int[]? homes, PodTraffic? traffic = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (routing.Layers != plan.Layers)
        {
            throw new ArgumentException($"trace '{name}' has {routing.Layers} layers, the plan {plan.Layers}.", nameof(routing));
        }

        if (routing.Ids.Length > 0 && routing.Ids.Max() >= plan.Experts)
        {
            throw new ArgumentException($"trace '{name}' routes to expert {routing.Ids.Max()}, the plan has {plan.Experts} experts per layer.", nameof(routing));
        }

        var needsModel = (homes is null && options.Home == HomePolicy.Speculative) || options.Rehome;
        if (needsModel && model is null)
        {
            throw new ArgumentException("the speculative policy and re-homing need transition statistics (a profile from a routing trace).", nameof(model));
        }

        var predictor = model is not null ? new SpeculativeHomePredictor(plan, model, options.Speculative) : null;
        homes ??= new HomeAssigner(plan, routing, options, predictor).Assign();
        return Replay(plan, routing, options, predictor, homes, traffic);
    }

    private static SimulationMetrics Replay(PlacementPlan plan, RoutingView routing, SimulationOptions options, SpeculativeHomePredictor? predictor, int[] homes, PodTraffic? traffic)
    {
        int pods = plan.PodCount, layers = plan.Layers;
        var offsets = new int[(layers * plan.Experts) + 1];
        for (var i = 0; i < layers * plan.Experts; i++)
        {
            offsets[i + 1] = offsets[i] + plan.PodsOf(i / plan.Experts, i % plan.Experts).Length;
        }

        var replicaServed = new long[offsets[^1]];
        var podServed = new long[layers * pods];
        var homeLoads = new long[pods];
        var scores = new double[pods];
        var localCounts = new int[pods];
        long dispatches = 0, remote = 0, rehomes = 0, hits = 0, expertHits = 0;
        for (var t = 0; t < routing.Tokens; t++)
        {
            var home = homes[t];
            homeLoads[home]++;
            for (var l = 0; l < layers; l++)
            {
                var slots = routing.Slots(t, l);
                if (options.Rehome && l > 0 && predictor!.TryRehome(slots, l, home, out var moved, routing.Slots(t, l - 1)))
                {
                    traffic?.AddRehome(l, home, moved);
                    home = moved;
                    rehomes++;
                    dispatches++;
                    remote++;
                }

                for (var s = 0; s < slots.Length; s++)
                {
                    int e = slots[s], cell = (l * plan.Experts) + e;
                    dispatches++;
                    if (plan.Holds(home, l, e))
                    {
                        podServed[(l * pods) + home]++;
                        replicaServed[offsets[cell] + plan.PodsOf(l, e).IndexOf(home)]++;
                        continue;
                    }

                    remote++;
                    var r = RemoteReplica.ForDispatch<long>(replicaServed.AsSpan(offsets[cell], offsets[cell + 1] - offsets[cell]), t, l, s, options.Seed);
                    replicaServed[offsets[cell] + r]++;
                    podServed[(l * pods) + plan.PodsOf(l, e)[r]]++;
                    traffic?.AddRemote(l, home, plan.PodsOf(l, e)[r]);
                }
            }

            hits += BestHome.Of(plan, 0, routing.Routing(t), routing.TopK, localCounts) == homes[t] ? 1 : 0;
            expertHits += predictor?.PredictedHits(routing.Routing(t), routing.TopK) ?? 0;
        }

        var predicted = (long)routing.Tokens * (layers - 1) * routing.TopK;

        return new SimulationMetrics(
            dispatches == 0 ? 0 : (double)remote / dispatches,
            ExpertLoadImbalance.OfServed(podServed, layers, pods),
            Imbalance(homeLoads),
            routing.Tokens == 0 ? 0 : (double)hits / routing.Tokens,
            plan.ReplicasPerPodMax,
            dispatches,
            remote,
            rehomes,
            routing.Tokens,
            ExpertPrecision: predictor is null || predicted == 0 ? null : (double)expertHits / predicted);
    }

    private static double Imbalance(long[] loads)
    {
        var total = loads.Sum();
        return total == 0 ? 1 : loads.Max() / ((double)total / loads.Length);
    }
}
