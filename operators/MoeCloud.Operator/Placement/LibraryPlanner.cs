using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Operator.Placement;

/// <summary>
/// The operator's planner, backed by the Placement library (<c>src/MoeCloud.Placement</c>):
/// <list type="bullet">
/// <item>initial plan: the solver <c>spec.placement.solver</c> names (<see cref="PlacementSolvers"/>: contiguous, eplb,
/// ilp) with <c>redundantReplicas</c> extra replicas per layer and <c>timeLimitSeconds</c> as its time limit, fitted to
/// the profile ConfigMap's loads; without a profile there is no load to balance, so the plan is contiguous (the
/// expert-parallel default, redundant replicas included);</item>
/// <item>scale steps: <see cref="ScalingPlanner"/> under the move budget — evictions from leaving pods first, then the
/// moves that most lower load imbalance (and remote fraction, when the profile carries sampled routings);</item>
/// <item>re-placement on the same pods: with the <c>ilp</c> solver and a live profile that carries co-activation
/// (the gateway serves transitions and sampled routings), the library's <see cref="IncrementalPlanner"/>; otherwise
/// <see cref="ScalingPlanner"/>'s load-balancing moves.</item>
/// </list>
/// A pod's capacity is <see cref="PlanRequest.Capacity"/> replicas per layer; a live plan that already holds more on a
/// pod (a smaller capacity after a scale-out) keeps that many as the limit, so no step is refused for it.
/// </summary>
/// <param name="time">Clock for plan timestamps.</param>
/// <param name="solvers">The library solver of a name (the default is <see cref="PlacementSolvers.Create"/>).</param>
public sealed class LibraryPlanner(TimeProvider time, Func<string, IPlacementSolver> solvers) : IPlacementPlanner
{
    /// <summary>A planner with the library's solvers.</summary>
    public LibraryPlanner(TimeProvider time)
        : this(time, name => PlacementSolvers.Create(name))
    {
    }

    /// <inheritdoc />
    public PlanProposal Initial(PlanRequest request, WorkloadProfile? profile)
    {
        Validate(request);
        EnsureShape(profile, request);
        var loads = profile ?? PlanningProfiles.Uniform(request.Layers, request.Experts, request.TopK);
        var name = profile is null ? "contiguous" : request.Solver;
        var problem = new PlacementProblem(loads, request.Pods, request.RedundantReplicas, Enumerable.Repeat(request.Layers * request.Capacity, request.Pods).ToArray())
        {
            TimeLimit = request.TimeLimit,
            Time = time,
        };
        var result = solvers(name).Solve(problem);
        var plan = result.Plan ?? throw new ArgumentException($"the {name} solver found no plan: {result.Summary.Note}");
        for (var l = 0; l < plan.Layers; l++)
        {
            if (plan.ReplicasPerPod(l).Max() is var most && most > request.Capacity)
            {
                throw new ArgumentException($"the {name} solver put {most} replicas of layer {l} on one pod, over the capacity of {request.Capacity} per layer");
            }
        }

        var imbalance = ExpertLoadImbalance.Predicted(plan, loads, request.Pods);
        return new PlanProposal(plan, 0, imbalance, imbalance, Complete: true, plan.Info.Solver);
    }

    /// <inheritdoc />
    public PlanProposal Next(PlacementPlan current, PlanRequest request, WorkloadProfile profile)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(profile);
        Validate(request);
        if (current.Layers != request.Layers || current.Experts != request.Experts)
        {
            throw new ArgumentException($"the live plan is {current.Layers} layers x {current.Experts} experts but the model has {request.Layers} x {request.Experts}");
        }

        EnsureShape(profile, request);
        var staying = Math.Min(current.PodCount, request.Pods);
        var perLayer = Enumerable.Range(0, current.Layers).Select(current.ReplicasPerPod).ToArray();
        var slots = Math.Max(request.Capacity, perLayer.Max(c => c.Take(staying).Max()));
        var podCapacity = request.Layers * slots;
        var liveCapacity = Math.Max(podCapacity, Enumerable.Range(0, current.PodCount).Max(p => perLayer.Sum(c => c[p])));
        var live = WithCapacity(current, liveCapacity, request.Solver);
        var before = ExpertLoadImbalance.Predicted(current, profile, request.Pods);
        if (request.Pods == current.PodCount && request.Solver == "ilp" && profile.HasCoActivation())
        {
            // Same pods and a profile with sampled routings: the library's incremental solver (CP-SAT per layer under
            // the move budget, scored by simulating the sampled tokens with speculative homes).
            var incremental = IncrementalPlanner.Plan(live, profile, request.MaxMoves, threshold: 0, time: time);
            var apply = incremental.Decision == ReplacementDecision.Apply;
            var next = apply ? incremental.Candidate : current;
            return new PlanProposal(next, apply ? incremental.Moves : 0, before, ExpertLoadImbalance.Predicted(next, profile, request.Pods), Complete: true, "incremental-ilp")
            {
                RemoteBefore = incremental.LiveRemoteFraction,
                RemoteAfter = apply ? incremental.CandidateRemoteFraction : incremental.LiveRemoteFraction,
            };
        }

        var step = ScalingPlanner.Next(live, request.Pods, request.MaxMoves, profile, new ScalingOptions { LayerSlots = slots, PodCapacity = podCapacity, Time = time });
        return new PlanProposal(step.Plan, step.Moves, before, ExpertLoadImbalance.Predicted(step.Plan, profile, request.Pods), step.Complete, "incremental");
    }

    /// <summary>
    /// Replicas one pod may hold per layer: the explicit <c>spec.resources.expertsPerPod</c>, or an even share of
    /// <paramref name="replicasPerLayer"/> (experts + redundant replicas) rounded up, with 25% headroom for rebalancing.
    /// </summary>
    public static int Capacity(int replicasPerLayer, int pods, int expertsPerPod)
    {
        if (expertsPerPod > 0)
        {
            return expertsPerPod;
        }

        var even = (replicasPerLayer + pods - 1) / pods;
        return even + Math.Max(1, even / 4);
    }

    private static PlacementPlan WithCapacity(PlacementPlan plan, int capacity, string solver) =>
        new(plan.Info with { Solver = solver }, [.. Enumerable.Range(0, plan.PodCount).Select(p => new PodSpec(p, capacity))], plan.ToAssignment());

    private static void EnsureShape(WorkloadProfile? profile, PlanRequest request)
    {
        if (profile is not null && (profile.Layers != request.Layers || profile.Experts != request.Experts))
        {
            throw new ArgumentException($"the load profile is {profile.Layers} layers x {profile.Experts} experts but the model has {request.Layers} x {request.Experts}");
        }
    }

    private static void Validate(PlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var problems = new List<string>();
        if (!PlacementSolvers.Names.Contains(request.Solver))
        {
            problems.Add($"solver \"{request.Solver}\" is not one of {string.Join(", ", PlacementSolvers.Names)}");
        }

        foreach (var (name, value) in new[] { ("layers", request.Layers), ("experts", request.Experts), ("topK", request.TopK), ("pods", request.Pods), ("capacity", request.Capacity), ("maxMoves", request.MaxMoves) })
        {
            if (value < 1)
            {
                problems.Add($"{name} must be at least 1 (got {value})");
            }
        }

        if (request.RedundantReplicas < 0)
        {
            problems.Add($"redundantReplicas must not be negative (got {request.RedundantReplicas})");
        }

        if (request.TimeLimit <= TimeSpan.Zero)
        {
            problems.Add($"the time limit must be positive (got {request.TimeLimit})");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid plan request: " + string.Join("; ", problems));
        }
    }
}
