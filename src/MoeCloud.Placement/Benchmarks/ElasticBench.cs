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
/// <param name="RedundantSameBudget">Extra replicas of a third arm: fixed R' = the autoscaled arm's extra replicas per
/// layer, rounded up (at least as many replicas as the autoscaled arm, spread evenly over layers).</param>
/// <param name="ImbalanceSameBudget">That arm's imbalance.</param>
/// <param name="RemoteSameBudget">That arm's remote fraction.</param>
public sealed record ElasticOfflineRow(string Trace, int Pods, string Label, int RedundantFixedR, int RedundantAutoscaled,
    double ImbalanceFixedR, double ImbalanceAutoscaled, double RemoteFixedR, double RemoteAutoscaled, int Steps,
    int RedundantSameBudget, double ImbalanceSameBudget, double RemoteSameBudget);

/// <summary>
/// The offline half of <c>moectl bench elastic</c>: on a trace's even sequences, an ilp plan with a fixed R extra replicas
/// per layer, and the same plan after <see cref="ExpertReplicaAutoscaler"/> steps (one per cooldown, on the same load)
/// on the load of the held-out odd sequences (what the cluster's windowed live profile reports while it serves them)
/// until it keeps the plan, and a fixed plan with the autoscaled arm's budget of extra replicas spread evenly; all
/// scored by <see cref="Simulator"/> (speculative homes) on the odd sequences: the expert-load imbalance of dispatches
/// served and the remote fraction. The fixed arms are fitted on the even sequences and do not follow the shift.
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
        var fixedPlan = Solve(profile, pods, redundant, capacities, timeLimit, seed, trace.Manifest.Name, progress, cancellationToken);

        // 2. Autoscale from it on the load of the traffic it serves (the held-out sequences' dispatches per expert, as the
        // cluster's windowed live profile reports them; they do not depend on the plan) until a step keeps the plan.
        var served = WorkloadProfile.FromTrace(eval);
        var plan = fixedPlan;
        var now = DateTimeOffset.UnixEpoch;
        DateTimeOffset? last = null;
        var steps = 0;
        while (steps < MaxSteps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            now += autoscaling.Cooldown + TimeSpan.FromSeconds(1);
            var decision = ExpertReplicaAutoscaler.Decide(plan, served, autoscaling, last, now);
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

        // 4. The same budget, fixed: R' per layer = the autoscaled arm's extra replicas per layer, rounded up.
        var sameR = Math.Min((scaledExtra + profile.Layers - 1) / profile.Layers, Math.Max(redundant, autoscaling.MaxRedundant));
        var samePlan = Solve(profile, pods, sameR, capacities, timeLimit, seed, trace.Manifest.Name, progress, cancellationToken);
        var sameMetrics = Simulator.Run(samePlan, eval, options, model);
        var label = string.Create(CultureInfo.InvariantCulture,
            $"fixed R={redundant} per layer ({fixedExtra} extra replicas) vs autoscaled from it ({scaledExtra} extra, {scaledExtra - fixedExtra:+#;-#;0}); same budget: fixed R={sameR} ({Extra(samePlan)} extra)");
        return new ElasticOfflineRow(trace.Manifest.Name, pods, label, fixedExtra, scaledExtra,
            fixedMetrics.ExpertLoadImbalance, scaledMetrics.ExpertLoadImbalance, fixedMetrics.RemoteFraction, scaledMetrics.RemoteFraction, steps,
            Extra(samePlan), sameMetrics.ExpertLoadImbalance, sameMetrics.RemoteFraction);
    }

    private static PlacementPlan Solve(WorkloadProfile profile, int pods, int redundant, int[] capacities, TimeSpan timeLimit, int seed, string trace, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var problem = new PlacementProblem(profile, pods, redundant, capacities) { Seed = seed, TimeLimit = timeLimit };
        var solved = PlacementSolvers.Create("ilp").Solve(problem, progress, cancellationToken);
        return solved.Plan ?? throw new ArgumentException($"no fixed-R plan for '{trace}' on {pods} pods with R={redundant}: {solved.Summary.Note}");
    }

    private static int Extra(PlacementPlan plan) => plan.TotalReplicas - (plan.Layers * plan.Experts);
}
