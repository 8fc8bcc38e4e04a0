using System.Globalization;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Benchmarks;

/// <summary>One trace of the offline elastic comparison (the JSON keys of <c>moectl bench elastic</c>).</summary>
/// <param name="Trace">Trace name.</param>
/// <param name="Pods">Pods.</param>
/// <param name="Label">How the arms differ, in words (their extra replicas in particular).</param>
/// <param name="RedundantFixedR">Extra replicas over all layers of the fixed-R plan.</param>
/// <param name="RedundantAutoscaled">Extra replicas over all layers of the autoscaled plan once it converged.</param>
/// <param name="ImbalanceFixedR">Expert-load imbalance of dispatches served (simulated) with the fixed-R plan.</param>
/// <param name="ImbalanceAutoscaled">The same with the autoscaled plan.</param>
/// <param name="RemoteFixedR">Remote fraction (simulated) with the fixed-R plan.</param>
/// <param name="RemoteAutoscaled">The same with the autoscaled plan.</param>
/// <param name="Steps">Autoscaler steps that changed the plan before it kept it.</param>
public sealed record ElasticOfflineRow(string Trace, int Pods, string Label, int RedundantFixedR, int RedundantAutoscaled,
    double ImbalanceFixedR, double ImbalanceAutoscaled, double RemoteFixedR, double RemoteAutoscaled, int Steps);

/// <summary>
/// The offline half of <c>moectl bench elastic</c>: on a trace's even sequences, an ilp plan with a fixed R extra replicas
/// per layer, and the same plan after <see cref="ExpertReplicaAutoscaler"/> steps (one per cooldown, on the same load)
/// until it keeps the plan; both scored by <see cref="Simulator"/> (speculative homes) on the odd, held-out sequences:
/// the expert-load imbalance of dispatches served and the remote fraction.
/// </summary>
public static class ElasticBench
{
    /// <summary>Most autoscaler steps before the comparison stops waiting for convergence.</summary>
    public const int MaxSteps = 64;

    /// <summary>Runs the comparison on one trace.</summary>
    /// <param name="trace">A trace with at least two sequences.</param>
    /// <param name="pods">Pods.</param>
    /// <param name="redundant">R, the fixed arm's extra replicas per layer (also the autoscaler's starting plan).</param>
    /// <param name="autoscaling">The autoscaler's policy (its cooldown is stepped over: one step per evaluation).</param>
    /// <param name="timeLimit">ilp time limit.</param>
    /// <param name="seed">Solver and simulator seed.</param>
    /// <param name="progress">Progress lines.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <exception cref="ArgumentException">Fewer than two sequences, bad options, or no plan fits.</exception>
    public static ElasticOfflineRow Run(RoutingTrace trace, int pods, int redundant, ExpertAutoscalingOptions autoscaling, TimeSpan timeLimit, int seed = 1,
        IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(autoscaling);
        autoscaling.Validate();
        if (trace.Sequences.Count < 2)
        {
            throw new ArgumentException($"trace '{trace.Manifest.Name}' has {trace.Sequences.Count} sequence(s); fitting on even and scoring on odd sequences needs at least 2.", nameof(trace));
        }

        // 1. Fit on the even sequences: the fixed-R ilp plan.
        var (fit, eval) = trace.SplitEvenOdd();
        var profile = WorkloadProfile.FromTrace(fit);
        // Both arms get the memory for the autoscaler's most replicas: an even share of experts + max(R, maxRedundant) per
        // layer, plus one slot per layer of headroom (as the operator's default capacity has).
        var perLayer = ((profile.Experts + Math.Max(redundant, autoscaling.MaxRedundant) + pods - 1) / pods) + 1;
        var capacities = Enumerable.Repeat(perLayer * profile.Layers, pods).ToArray();
        var problem = new PlacementProblem(profile, pods, redundant, capacities) { Seed = seed, TimeLimit = timeLimit };
        var solved = PlacementSolvers.Create("ilp").Solve(problem, progress, cancellationToken);
        var fixedPlan = solved.Plan ?? throw new ArgumentException($"no fixed-R plan for '{trace.Manifest.Name}' on {pods} pods with R={redundant}: {solved.Summary.Note}");

        // 2. Autoscale from it on the same (fitting) load until a step keeps the plan.
        var plan = fixedPlan;
        var now = DateTimeOffset.UnixEpoch;
        DateTimeOffset? last = null;
        var steps = 0;
        while (steps < MaxSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            now += autoscaling.Cooldown + TimeSpan.FromSeconds(1);
            var decision = ExpertReplicaAutoscaler.Decide(plan, profile, autoscaling, last, now);
            if (!decision.Changed)
            {
                break;
            }

            plan = decision.Plan;
            last = now;
            steps++;
            progress?.Report($"{trace.Manifest.Name}: step {steps}: {decision.Reason}");
        }

        // 3. Score both on the held-out sequences.
        var model = TransitionModel.FromProfile(profile);
        var options = new SimulationOptions { Home = HomePolicy.Speculative, Seed = seed };
        var fixedMetrics = Simulator.Run(fixedPlan, eval, options, model);
        var scaledMetrics = Simulator.Run(plan, eval, options, model);
        int fixedExtra = Extra(fixedPlan), scaledExtra = Extra(plan);
        var label = string.Create(CultureInfo.InvariantCulture,
            $"fixed R={redundant} per layer ({fixedExtra} extra replicas) vs autoscaled from it ({scaledExtra} extra, {scaledExtra - fixedExtra:+#;-#;0} against fixed)");
        return new ElasticOfflineRow(trace.Manifest.Name, pods, label, fixedExtra, scaledExtra,
            fixedMetrics.ExpertLoadImbalance, scaledMetrics.ExpertLoadImbalance, fixedMetrics.RemoteFraction, scaledMetrics.RemoteFraction, steps);
    }

    private static int Extra(PlacementPlan plan) => plan.TotalReplicas - (plan.Layers * plan.Experts);
}
