using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Operator.Tests.Placement;

public sealed class LibraryPlannerTests
{
    private readonly LibraryPlanner _planner = new(TimeProvider.System);

    private static PlanRequest Request(int layers = 1, int experts = 8, int pods = 2, int capacity = 5, string solver = "ilp", int redundant = 0, int maxMoves = 10, int timeLimitSeconds = 30) =>
        new(solver, layers, experts, TopK: 2, pods, capacity, redundant, TimeSpan.FromSeconds(timeLimitSeconds), maxMoves);

    private static WorkloadProfile Loads(double[][] load) => PlanningProfiles.FromLoads("test", load, load.Length, load[0].Length, topK: 2);

    private static int[][] Primaries(PlacementPlan plan) =>
        [.. Enumerable.Range(0, plan.Layers).Select(l => Enumerable.Range(0, plan.Experts).Select(e => plan.PodsOf(l, e)[0]).ToArray())];

    private static int Redundant(PlacementPlan plan) => plan.TotalReplicas - (plan.Layers * plan.Experts);

    [Fact]
    public void Initial_WhenNoProfile_IsContiguous()
    {
        var step = _planner.Initial(Request(layers: 2, experts: 8, pods: 4, capacity: 2), profile: null);

        Assert.Equal("contiguous", step.Solver);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], Primaries(step.Plan)[1]);
        Assert.Equal(0, Redundant(step.Plan));
    }

    [Theory]
    [InlineData("eplb")]
    [InlineData("ilp")]
    public void Initial_WhenSkewedProfile_UsesTheNamedSolverAndBalancesBetterThanContiguous(string solver)
    {
        var profile = Loads([[8, 7, 1, 1, 1, 1, 1, 1]]);

        var balanced = _planner.Initial(Request(solver: solver), profile);
        var contiguous = _planner.Initial(Request(solver: "contiguous"), profile);

        Assert.Equal(solver, balanced.Solver);
        Assert.Equal("contiguous", contiguous.Solver);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], Primaries(contiguous.Plan)[0]);
        Assert.True(balanced.ImbalanceAfter < contiguous.ImbalanceAfter, $"{balanced.ImbalanceAfter} vs {contiguous.ImbalanceAfter}");
        Assert.NotEqual(balanced.Plan.PodsOf(0, 0)[0], balanced.Plan.PodsOf(0, 1)[0]);
    }

    [Fact]
    public void Initial_WhenRedundantReplicas_TheHottestExpertsGetThemInTheExpertPlacement()
    {
        var profile = Loads([[40, 30, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 50]]);

        var step = _planner.Initial(Request(layers: 2, pods: 4, capacity: 3, solver: "eplb", redundant: 2), profile);

        Assert.Equal(4, Redundant(step.Plan));
        var layers = ExpertPlacementMapping.ToLayers(step.Plan);
        Assert.Equal([0, 1], layers[0].Redundant!.Select(r => r.Expert).Order());
        Assert.Equal([7, 7], layers[1].Redundant!.Select(r => r.Expert));
        Assert.All(layers, l => Assert.Equal(8, l.Pods.Count));
        var roundTrip = ExpertPlacementMapping.ToPlan(new ExpertPlacementSpec { Pods = 4, Layers = layers });
        Assert.Equal(0, step.Plan.MovesTo(roundTrip));
        Assert.Equal(3, roundTrip.PodsOf(1, 7).ToArray().Distinct().Count());
        Assert.All(Enumerable.Range(0, 2), l => Assert.All(roundTrip.ReplicasPerPod(l), c => Assert.InRange(c, 0, 3)));
    }

    [Fact]
    public void Initial_PassesTheTimeLimitRedundantReplicasAndCapacitiesToTheSolver()
    {
        var recorder = new RecordingSolver();
        var planner = new LibraryPlanner(TimeProvider.System, name => name == "ilp" ? recorder : PlacementSolvers.Create(name));

        var step = planner.Initial(Request(layers: 3, experts: 8, pods: 4, capacity: 4, redundant: 3, timeLimitSeconds: 7), Loads([[1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 1, 1, 1, 1, 1], [8, 1, 1, 1, 1, 1, 1, 1]]));

        var problem = Assert.Single(recorder.Problems);
        Assert.Equal(TimeSpan.FromSeconds(7), problem.TimeLimit);
        Assert.Equal(3, problem.Redundant);
        Assert.Equal([12, 12, 12, 12], problem.Capacities);
        Assert.Equal(2, problem.Profile.TopK);
        Assert.Equal(9, Redundant(step.Plan));
    }

    [Fact]
    public void Next_WhenScalingIn_EvictsLeavingPodsWithinBudgetThenCompletes()
    {
        var plan = _planner.Initial(Request(layers: 2, experts: 12, pods: 6, capacity: 3), null).Plan;
        var profile = PlanningProfiles.Uniform(2, 12, 2);

        var first = _planner.Next(plan, Request(layers: 2, experts: 12, pods: 3, capacity: 5, maxMoves: 7), profile);
        Assert.Equal(7, first.Moves);
        Assert.False(first.Complete);
        Assert.Equal(6, first.Plan.PodCount);
        Assert.Equal(7, plan.MovesTo(first.Plan));
        var second = _planner.Next(first.Plan, Request(layers: 2, experts: 12, pods: 3, capacity: 5, maxMoves: 7), profile);

        Assert.True(second.Complete);
        Assert.Equal("incremental", second.Solver);
        Assert.InRange(second.Moves, 5, 7);
        Assert.Equal(3, second.Plan.PodCount);
        Assert.All(Primaries(second.Plan).SelectMany(l => l), p => Assert.InRange(p, 0, 2));
        Assert.All(Enumerable.Range(0, 2), l => Assert.All(second.Plan.ReplicasPerPod(l), c => Assert.InRange(c, 0, 5)));
    }

    [Fact]
    public void Next_WhenScalingOut_FillsNewPodsAndRespectsBudgetAndCapacity()
    {
        var plan = _planner.Initial(Request(experts: 16, pods: 4, capacity: 4), null).Plan;

        var step = _planner.Next(plan, Request(experts: 16, pods: 6, capacity: 3, maxMoves: 10), PlanningProfiles.Uniform(1, 16, 2));

        Assert.InRange(step.Moves, 1, 10);
        Assert.Equal(6, step.Plan.PodCount);
        var counts = step.Plan.ReplicasPerPod(0);
        Assert.All(counts, c => Assert.InRange(c, 2, 4));
        Assert.Equal([2, 2], counts[4..]);
        Assert.True(step.Gain > 0);
    }

    [Fact]
    public void Next_WhenRedundantPlanScalesIn_KeepsEveryExpertAndTheCapacity()
    {
        var profile = Loads([[40, 30, 1, 1, 1, 1, 1, 1]]);
        var plan = _planner.Initial(Request(pods: 4, capacity: 3, solver: "eplb", redundant: 3), profile).Plan;
        var current = plan;
        for (var i = 0; i < 5 && current.PodCount > 2; i++)
        {
            var step = _planner.Next(current, Request(pods: 2, capacity: 6, maxMoves: 2), profile);
            Assert.InRange(step.Moves, 0, 2);
            current = step.Plan;
        }

        Assert.Equal(2, current.PodCount);
        Assert.All(Enumerable.Range(0, 8), e => Assert.InRange(current.PodsOf(0, e).Length, 1, 2));
        Assert.All(current.ReplicasPerPod(0), c => Assert.InRange(c, 4, 6));
    }

    [Fact]
    public void Next_WhenAlreadyBalanced_MovesNothing()
    {
        var plan = _planner.Initial(Request(experts: 8, pods: 4, capacity: 2), null).Plan;

        var step = _planner.Next(plan, Request(experts: 8, pods: 4, capacity: 3), PlanningProfiles.Uniform(1, 8, 2));

        Assert.Equal(0, step.Moves);
        Assert.Equal(0, step.Gain);
    }

    [Fact]
    public void Next_WhenLiveProfileSkewed_RebalancesOnTheSamePodsWithinBudget()
    {
        var plan = _planner.Initial(Request(experts: 16, pods: 4, capacity: 5), null).Plan;
        var profile = Loads([Enumerable.Range(0, 16).Select(e => e < 4 ? 10.0 : 1.0).ToArray()]);

        var step = _planner.Next(plan, Request(experts: 16, pods: 4, capacity: 5, maxMoves: 3), profile);

        Assert.InRange(step.Moves, 1, 3);
        Assert.Equal(step.Moves, plan.MovesTo(step.Plan));
        Assert.True(step.Gain > 0.3, $"gain {step.Gain}");
        Assert.All(step.Plan.ReplicasPerPod(0), c => Assert.InRange(c, 0, 5));
    }

    [Fact]
    public void Planner_WhenInputIsBad_ThrowsClearArgumentException()
    {
        var unknown = Assert.Throws<ArgumentException>(() => _planner.Initial(Request(solver: "greedy", capacity: 0), null));
        Assert.Contains("solver \"greedy\" is not one of contiguous, eplb, ilp", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("capacity must be at least 1 (got 0)", unknown.Message, StringComparison.Ordinal);

        var small = Assert.Throws<ArgumentException>(() => _planner.Initial(Request(experts: 10, pods: 2, capacity: 4), null));
        Assert.Contains("the contiguous solver found no plan", small.Message, StringComparison.Ordinal);

        var redundant = Assert.Throws<ArgumentException>(() => _planner.Initial(Request(experts: 4, pods: 2, capacity: 8, solver: "eplb", redundant: 5), PlanningProfiles.Uniform(1, 4, 2)));
        Assert.Contains("5 redundant replicas per layer cannot fit", redundant.Message, StringComparison.Ordinal);

        var plan = _planner.Initial(Request(experts: 4, capacity: 2), null).Plan;
        var shape = Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, capacity: 2), PlanningProfiles.Uniform(2, 4, 2)));
        Assert.Contains("2 layers x 4 experts", shape.Message, StringComparison.Ordinal);
        Assert.Contains("maxMoves must be at least 1 (got 0)", Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, capacity: 2, maxMoves: 0), PlanningProfiles.Uniform(1, 4, 2))).Message, StringComparison.Ordinal);
        Assert.Contains("1 pods x 2 slots per layer cannot hold the 4 experts",
            Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, pods: 1, capacity: 2), PlanningProfiles.Uniform(1, 4, 2))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromLoads_WhenNaNNegativeOrRagged_ThrowsAndFractionalLoadsKeepTheirProportions()
    {
        Assert.Contains("finite and non-negative", Assert.Throws<ArgumentException>(() => PlanningProfiles.FromLoads("t", [[1, double.NaN]], 1, 2, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("must be [2 layers][2 experts]", Assert.Throws<ArgumentException>(() => PlanningProfiles.FromLoads("t", [[1, 2], [1]], 2, 2, 1)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PlanningProfiles.FromLoads("t", [[1, -1]], 1, 2, 1));

        Assert.Equal([3, 1], PlanningProfiles.FromLoads("whole", [[3, 1]], 1, 2, 1).Load);
        Assert.Equal([1_000_000, 250_000], PlanningProfiles.FromLoads("rates", [[0.4, 0.1]], 1, 2, 1).Load);
        Assert.True(PlanningProfiles.FromLoads("rates", [[0.4, 0.1]], 1, 2, 1).IsLoadOnly);
    }

    [Fact]
    public void FromSpec_WhenRedundantReplicaIsMalformed_ThrowsArgumentException()
    {
        static ExpertPlacementSpec Spec(int expert, int pod) => new()
        {
            Pods = 2,
            Layers = [new LayerPlacement { Layer = 0, Pods = [0, 1], Redundant = [new RedundantReplica { Expert = expert, Pod = pod }] }],
        };

        Assert.Equal(2, ExpertPlacementMapping.ToPlan(Spec(0, 1)).PodsOf(0, 0).Length);
        Assert.Contains("expert 5, but the layer has 2 experts", Assert.Throws<ArgumentException>(() => ExpertPlacementMapping.ToPlan(Spec(5, 1))).Message, StringComparison.Ordinal);
        Assert.Contains("two replicas on the same pod", Assert.Throws<ArgumentException>(() => ExpertPlacementMapping.ToPlan(Spec(0, 0))).Message, StringComparison.Ordinal);
        Assert.Contains("pod id 2 is outside [0, 2)", Assert.Throws<ArgumentException>(() => ExpertPlacementMapping.ToPlan(Spec(0, 2))).Message, StringComparison.Ordinal);
    }

    /// <summary>Records every problem and answers with EPLB's plan.</summary>
    private sealed class RecordingSolver : IPlacementSolver
    {
        public List<PlacementProblem> Problems { get; } = [];

        public string Name => "ilp";

        public PlacementResult Solve(PlacementProblem problem, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
        {
            Problems.Add(problem);
            return new EplbSolver().Solve(problem, progress, cancellationToken);
        }
    }

    [Fact]
    public void Next_WithIlpAndAProfileWithSampledRoutings_UsesTheIncrementalSolverWithinTheBudget()
    {
        var trace = MoeCloud.Model.Traces.SyntheticTraceGenerator.Generate(new MoeCloud.Model.Traces.SyntheticTraceOptions { Layers = 4, Experts = 16, TopK = 2, Tokens = 2048, Sequences = 16, Seed = 7 });
        var observed = MoeCloud.Placement.Profiles.WorkloadProfile.FromTrace(trace);
        var loads = Enumerable.Range(0, 4).Select(l => Enumerable.Range(0, 16).Select(e => (double)observed.LoadOf(l, e)).ToArray()).ToArray();
        var profile = observed;
        var request = Request(layers: 4, experts: 16, pods: 4, capacity: 5, maxMoves: 6);
        var live = _planner.Initial(request with { Solver = "contiguous" }, null).Plan;

        var step = _planner.Next(live, request, profile);
        var loadOnly = _planner.Next(live, request, Loads(loads));

        Assert.True(profile.HasCoActivation());
        Assert.Equal("incremental-ilp", step.Solver);
        Assert.InRange(step.Moves, 1, 6);
        Assert.Equal(step.Moves, live.MovesTo(step.Plan));
        Assert.NotNull(step.RemoteBefore);
        Assert.True(step.RemoteAfter < step.RemoteBefore, $"remote {step.RemoteBefore} -> {step.RemoteAfter}");
        Assert.True(step.Gain > 0);
        Assert.Equal("incremental", loadOnly.Solver);
        Assert.Null(loadOnly.RemoteBefore);
    }

    [Fact]
    public void FromLive_WithCoActivation_KeepsTheSampleAndTransitions_AndNamesTheBadField()
    {
        var counts = new long[8];
        var transitions = new long[16];
        short[] ids = [0, 1, 2, 3, 3, 2, 1, 0];
        var live = LiveProfile.Encode("m", 2, 4, 2, (2, 3, 1, 2), System.Runtime.InteropServices.MemoryMarshal.AsBytes(counts.AsSpan()),
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(transitions.AsSpan()), System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()));

        var profile = PlanningProfiles.FromLive(live, layers: 2, experts: 4);

        Assert.NotNull(profile);
        Assert.True(profile.HasCoActivation());
        Assert.Equal(ids, profile.Sample.ExpertIds);
        Assert.Equal(transitions, profile.Transitions);
        Assert.Null(PlanningProfiles.FromLive(live, layers: 3, experts: 4)); // another shape: the cluster serves another model version
        Assert.Contains("'transitions'", Assert.Throws<FormatException>(() => PlanningProfiles.FromLive(live with { Transitions = Convert.ToBase64String(new byte[8]) }, 2, 4)).Message, StringComparison.Ordinal);
    }
}
