using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Operator.Tests.Placement;

public sealed class LibraryPlannerTests
{
    private readonly LibraryPlanner _planner = new(TimeProvider.System);

    private static PlanRequest Request(int layers = 1, int experts = 8, int pods = 2, int capacity = 5, string solver = "ilp", int redundant = 0, int maxMoves = 10, int timeLimitSeconds = 30) =>
        new(solver, layers, experts, TopK: 2, pods, capacity, redundant, TimeSpan.FromSeconds(timeLimitSeconds), maxMoves);

    [Fact]
    public void Initial_WhenNoProfile_IsContiguous()
    {
        var step = _planner.Initial(Request(layers: 2, experts: 8, pods: 4, capacity: 2), profile: null);

        Assert.Equal("contiguous", step.Solver);
        Assert.Equal([0, 0, 1, 1, 2, 2, 3, 3], step.Plan.ToArrays()[1]);
        Assert.Equal(0, step.Plan.RedundantReplicas);
    }

    [Theory]
    [InlineData("eplb")]
    [InlineData("ilp")]
    public void Initial_WhenSkewedProfile_UsesTheNamedSolverAndBalancesBetterThanContiguous(string solver)
    {
        var profile = new LoadProfile([[8, 7, 1, 1, 1, 1, 1, 1]]);

        var balanced = _planner.Initial(Request(solver: solver), profile);
        var contiguous = _planner.Initial(Request(solver: "contiguous"), profile);

        Assert.Equal(solver, balanced.Solver);
        Assert.Equal("contiguous", contiguous.Solver);
        Assert.Equal([0, 0, 0, 0, 1, 1, 1, 1], contiguous.Plan.ToArrays()[0]);
        Assert.True(balanced.ImbalanceAfter < contiguous.ImbalanceAfter, $"{balanced.ImbalanceAfter} vs {contiguous.ImbalanceAfter}");
        Assert.NotEqual(balanced.Plan.PodOf(0, 0), balanced.Plan.PodOf(0, 1));
    }

    [Fact]
    public void Initial_WhenRedundantReplicas_TheHottestExpertsGetThemInTheExpertPlacement()
    {
        var profile = new LoadProfile([[40, 30, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 50]]);

        var step = _planner.Initial(Request(layers: 2, pods: 4, capacity: 3, solver: "eplb", redundant: 2), profile);

        Assert.Equal(4, step.Plan.RedundantReplicas);
        var layers = step.Plan.ToSpecLayers();
        Assert.Equal([0, 1], layers[0].Redundant!.Select(r => r.Expert).Order());
        Assert.Equal([7, 7], layers[1].Redundant!.Select(r => r.Expert));
        Assert.All(layers, l => Assert.Equal(8, l.Pods.Count));
        var roundTrip = PlacementPlan.FromSpec(new ExpertPlacementSpec { Pods = 4, Layers = layers });
        Assert.Equal(0, roundTrip.MovesFrom(step.Plan));
        Assert.Equal(3, roundTrip.ReplicasOf(1, 7).Distinct().Count());
        Assert.All(Enumerable.Range(0, 2), l => Assert.All(roundTrip.ReplicasPerPod(l), c => Assert.InRange(c, 0, 3)));
    }

    [Fact]
    public void Initial_PassesTheTimeLimitRedundantReplicasAndCapacitiesToTheSolver()
    {
        var recorder = new RecordingSolver();
        var planner = new LibraryPlanner(TimeProvider.System, name => name == "ilp" ? recorder : PlacementSolvers.Create(name));

        var step = planner.Initial(Request(layers: 3, experts: 8, pods: 4, capacity: 4, redundant: 3, timeLimitSeconds: 7), new LoadProfile([[1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 1, 1, 1, 1, 1, 1], [8, 1, 1, 1, 1, 1, 1, 1]]));

        var problem = Assert.Single(recorder.Problems);
        Assert.Equal(TimeSpan.FromSeconds(7), problem.TimeLimit);
        Assert.Equal(3, problem.Redundant);
        Assert.Equal([12, 12, 12, 12], problem.Capacities);
        Assert.Equal(2, problem.Profile.TopK);
        Assert.Equal(9, step.Plan.RedundantReplicas);
    }

    [Fact]
    public void Next_WhenScalingIn_EvictsLeavingPodsWithinBudgetThenCompletes()
    {
        var plan = _planner.Initial(Request(layers: 2, experts: 12, pods: 6, capacity: 3), null).Plan;
        var profile = LoadProfile.Uniform(2, 12);

        var first = _planner.Next(plan, Request(layers: 2, experts: 12, pods: 3, capacity: 5, maxMoves: 7), profile);
        Assert.Equal(7, first.Moves);
        Assert.False(first.Complete);
        Assert.Equal(6, first.Plan.Pods);
        Assert.Equal(7, first.Plan.MovesFrom(plan));
        var second = _planner.Next(first.Plan, Request(layers: 2, experts: 12, pods: 3, capacity: 5, maxMoves: 7), profile);

        Assert.True(second.Complete);
        Assert.Equal("incremental", second.Solver);
        Assert.InRange(second.Moves, 5, 7);
        Assert.Equal(3, second.Plan.Pods);
        Assert.All(second.Plan.ToArrays().SelectMany(l => l), p => Assert.InRange(p, 0, 2));
        Assert.All(Enumerable.Range(0, 2), l => Assert.All(second.Plan.ReplicasPerPod(l), c => Assert.InRange(c, 0, 5)));
    }

    [Fact]
    public void Next_WhenScalingOut_FillsNewPodsAndRespectsBudgetAndCapacity()
    {
        var plan = _planner.Initial(Request(experts: 16, pods: 4, capacity: 4), null).Plan;

        var step = _planner.Next(plan, Request(experts: 16, pods: 6, capacity: 3, maxMoves: 10), LoadProfile.Uniform(1, 16));

        Assert.InRange(step.Moves, 1, 10);
        Assert.Equal(6, step.Plan.Pods);
        var counts = step.Plan.ReplicasPerPod(0);
        Assert.All(counts, c => Assert.InRange(c, 2, 4));
        Assert.Equal([2, 2], counts[4..]);
        Assert.True(step.Gain > 0);
    }

    [Fact]
    public void Next_WhenRedundantPlanScalesIn_KeepsEveryExpertAndTheCapacity()
    {
        var profile = new LoadProfile([[40, 30, 1, 1, 1, 1, 1, 1]]);
        var plan = _planner.Initial(Request(pods: 4, capacity: 3, solver: "eplb", redundant: 3), profile).Plan;
        var current = plan;
        for (var i = 0; i < 5 && current.Pods > 2; i++)
        {
            var step = _planner.Next(current, Request(pods: 2, capacity: 6, maxMoves: 2), profile);
            Assert.InRange(step.Moves, 0, 2);
            current = step.Plan;
        }

        Assert.Equal(2, current.Pods);
        Assert.All(Enumerable.Range(0, 8), e => Assert.InRange(current.ReplicasOf(0, e).Count, 1, 2));
        Assert.All(current.ReplicasPerPod(0), c => Assert.InRange(c, 4, 6));
    }

    [Fact]
    public void Next_WhenAlreadyBalanced_MovesNothing()
    {
        var plan = _planner.Initial(Request(experts: 8, pods: 4, capacity: 2), null).Plan;

        var step = _planner.Next(plan, Request(experts: 8, pods: 4, capacity: 3), LoadProfile.Uniform(1, 8));

        Assert.Equal(0, step.Moves);
        Assert.Equal(0, step.Gain);
    }

    [Fact]
    public void Next_WhenLiveProfileSkewed_RebalancesOnTheSamePodsWithinBudget()
    {
        var plan = _planner.Initial(Request(experts: 16, pods: 4, capacity: 5), null).Plan;
        var profile = new LoadProfile([Enumerable.Range(0, 16).Select(e => e < 4 ? 10.0 : 1.0).ToArray()]);

        var step = _planner.Next(plan, Request(experts: 16, pods: 4, capacity: 5, maxMoves: 3), profile);

        Assert.InRange(step.Moves, 1, 3);
        Assert.Equal(step.Moves, step.Plan.MovesFrom(plan));
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

        var redundant = Assert.Throws<ArgumentException>(() => _planner.Initial(Request(experts: 4, pods: 2, capacity: 8, solver: "eplb", redundant: 5), LoadProfile.Uniform(1, 4)));
        Assert.Contains("5 redundant replicas per layer cannot fit", redundant.Message, StringComparison.Ordinal);

        var plan = _planner.Initial(Request(experts: 4, capacity: 2), null).Plan;
        var shape = Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, capacity: 2), LoadProfile.Uniform(2, 4)));
        Assert.Contains("2 layers x 4 experts", shape.Message, StringComparison.Ordinal);
        Assert.Contains("maxMoves must be at least 1 (got 0)", Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, capacity: 2, maxMoves: 0), LoadProfile.Uniform(1, 4))).Message, StringComparison.Ordinal);
        Assert.Contains("1 pods x 2 slots per layer cannot hold the 4 experts",
            Assert.Throws<ArgumentException>(() => _planner.Next(plan, Request(experts: 4, pods: 1, capacity: 2), LoadProfile.Uniform(1, 4))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadProfile_WhenNaNOrRagged_ThrowsAndFractionalLoadsKeepTheirProportions()
    {
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, double.NaN]]));
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, 2], [1]]));
        Assert.Throws<ArgumentException>(() => new LoadProfile([[1, -1]]));

        Assert.Equal([3, 1], new LoadProfile([[3, 1]]).ToWorkload(1, "whole").Load);
        Assert.Equal([1_000_000, 250_000], new LoadProfile([[0.4, 0.1]]).ToWorkload(1, "rates").Load);
        Assert.True(new LoadProfile([[0.4, 0.1]]).ToWorkload(1, "rates").IsLoadOnly);
    }

    [Fact]
    public void FromSpec_WhenRedundantReplicaIsMalformed_ThrowsArgumentException()
    {
        static ExpertPlacementSpec Spec(int expert, int pod) => new()
        {
            Pods = 2,
            Layers = [new LayerPlacement { Layer = 0, Pods = [0, 1], Redundant = [new RedundantReplica { Expert = expert, Pod = pod }] }],
        };

        Assert.Equal(2, PlacementPlan.FromSpec(Spec(0, 1)).ReplicasOf(0, 0).Count);
        Assert.Contains("expert 5, but the layer has 2 experts", Assert.Throws<ArgumentException>(() => PlacementPlan.FromSpec(Spec(5, 1))).Message, StringComparison.Ordinal);
        Assert.Contains("two replicas on one pod", Assert.Throws<ArgumentException>(() => PlacementPlan.FromSpec(Spec(0, 0))).Message, StringComparison.Ordinal);
        Assert.Contains("on a pod in 0..1", Assert.Throws<ArgumentException>(() => PlacementPlan.FromSpec(Spec(0, 2))).Message, StringComparison.Ordinal);
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
        var profile = new LoadProfile(loads) { Observed = observed };
        var request = Request(layers: 4, experts: 16, pods: 4, capacity: 5, maxMoves: 6);
        var live = _planner.Initial(request with { Solver = "contiguous" }, null).Plan;

        var step = _planner.Next(live, request, profile);
        var loadOnly = _planner.Next(live, request, new LoadProfile(loads));

        Assert.True(profile.HasCoActivation);
        Assert.Equal("incremental-ilp", step.Solver);
        Assert.InRange(step.Moves, 1, 6);
        Assert.Equal(step.Moves, step.Plan.MovesFrom(live));
        Assert.NotNull(step.RemoteBefore);
        Assert.True(step.RemoteAfter < step.RemoteBefore, $"remote {step.RemoteBefore} -> {step.RemoteAfter}");
        Assert.True(step.Gain > 0);
        Assert.Equal("incremental", loadOnly.Solver);
        Assert.Null(loadOnly.RemoteBefore);
    }

    [Fact]
    public void FromLive_WithCoActivation_DecodesIt_AndRejectsInconsistentFieldsClearly()
    {
        double[][] load = [[1, 2, 3, 4], [4, 3, 2, 1]];
        var transitions = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new long[16].AsSpan()));
        short[] ids = [0, 1, 2, 3, 3, 2, 1, 0];
        var sample = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()));

        var profile = LoadProfile.FromLive(load, 2, transitions, sample, [0, 1]);

        Assert.True(profile.HasCoActivation);
        Assert.Equal(ids, profile.Observed!.Sample.ExpertIds);
        Assert.False(LoadProfile.FromLive(load, null, null, null, null).HasCoActivation);
        Assert.Contains("needs topK", Assert.Throws<ArgumentException>(() => LoadProfile.FromLive(load, null, transitions, sample, [0, 1])).Message, StringComparison.Ordinal);
        Assert.Contains("holds 8 ids, 1 tokens x 2 layers x top-2 need 4", Assert.Throws<ArgumentException>(() => LoadProfile.FromLive(load, 2, transitions, sample, [0])).Message, StringComparison.Ordinal);
        Assert.Contains("transitions hold", Assert.Throws<ArgumentException>(() => LoadProfile.FromLive(load, 2, Convert.ToBase64String(new byte[8]), sample, [0, 1])).Message, StringComparison.Ordinal);
        var outside = Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new short[] { 0, 9, 2, 3, 3, 2, 1, 0 }.AsSpan()));
        Assert.Contains("outside 0..3", Assert.Throws<ArgumentException>(() => LoadProfile.FromLive(load, 2, transitions, outside, [0, 1])).Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => LoadProfile.FromLive(load, 2, "not base64!", sample, [0, 1]));
        Assert.Contains("whole number", Assert.Throws<ArgumentException>(() => LoadProfile.FromLive(load, 2, Convert.ToBase64String(new byte[7]), sample, [0, 1])).Message, StringComparison.Ordinal);
    }
}
