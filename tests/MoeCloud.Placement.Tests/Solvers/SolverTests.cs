using MoeCloud.Model.Traces;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class SolverTests
{
    private static readonly IlpOptions FastIlp = new() { Sweeps = 3 };

    [Fact]
    public void Contiguous_WhenEvenSlots_PlacesExpertEOnPodEGOverE()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 64));

        var plan = new ContiguousSolver().Solve(new PlacementProblem(profile, 4)).Plan!;

        for (var e = 0; e < 8; e++)
        {
            Assert.Equal([e * 4 / 8], plan.PodsOf(1, e).ToArray());
        }
    }

    [Fact]
    public void Eplb_WhenRedundant_ReplicatesTheHeaviestExpertsAndBalances()
    {
        // Loads 10, 1, 1, 0 on 2 pods with 2 redundant replicas: expert 0 (10 per replica) gets the first; it then has a
        // replica on both pods, so the second goes to the next heaviest per replica, expert 1.
        var profile = new WorkloadProfile("x", 1, 4, 1, [10, 1, 1, 0], null, TokenSample.Empty(1, 1));

        var plan = new EplbSolver().Solve(new PlacementProblem(profile, 2, redundant: 2)).Plan!;

        Assert.Equal(2, plan.PodsOf(0, 0).Length);
        Assert.Equal(2, plan.PodsOf(0, 1).Length);
        Assert.Single(plan.PodsOf(0, 2).ToArray());
        Assert.Equal(3, plan.ReplicasOn(0).Count);
        Assert.Equal(3, plan.ReplicasOn(1).Count);
    }

    [Theory]
    [InlineData("contiguous")]
    [InlineData("eplb")]
    [InlineData("ilp")]
    public void Solve_WhenCapacitiesDiffer_RespectsEveryCapacityAndPlacesEveryExpert(string solver)
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 4, experts: 16, tokens: 512));
        int[] capacities = [30, 10, 12, 40];
        var problem = new PlacementProblem(profile, 4, redundant: 4, capacities) { TimeLimit = TimeSpan.FromSeconds(5) };

        var result = PlacementSolvers.Create(solver, FastIlp).Solve(problem);

        var plan = Assert.IsType<PlacementPlan>(result.Plan);
        for (var p = 0; p < 4; p++)
        {
            Assert.True(plan.ReplicasOn(p).Count <= capacities[p], $"pod {p} holds {plan.ReplicasOn(p).Count} > {capacities[p]}");
        }

        Assert.Equal(4 * (16 + 4), plan.TotalReplicas);
        Assert.All(Enumerable.Range(0, 16), e => Assert.NotEmpty(plan.PodsOf(3, e).ToArray()));
    }

    [Theory]
    [InlineData("contiguous")]
    [InlineData("eplb")]
    [InlineData("ilp")]
    public void Solve_WhenCapacitiesTooSmall_ReturnsInfeasibleWithReason(string solver)
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 64));

        var result = PlacementSolvers.Create(solver).Solve(new PlacementProblem(profile, 2, 0, [4, 4]));

        Assert.Equal(SolveStatus.Infeasible, result.Status);
        Assert.Null(result.Plan);
        Assert.Contains("capacities hold 8 replicas", result.Summary.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Solve_WhenRedundantExceedsOnePerPod_ReturnsInfeasible()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 64));

        var result = new EplbSolver().Solve(new PlacementProblem(profile, 2, redundant: 9));

        Assert.Equal(SolveStatus.Infeasible, result.Status);
        Assert.Contains("at most 8 redundant", result.Summary.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_WhenMalformed_ThrowsArgumentException()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 64));

        Assert.Throws<ArgumentException>(() => new PlacementProblem(profile, 0));
        Assert.Throws<ArgumentException>(() => new PlacementProblem(profile, 2, -1));
        Assert.Throws<ArgumentException>(() => new PlacementProblem(profile, 2, 0, [1]));
        Assert.Throws<ArgumentException>(() => PlacementSolvers.Create("magic"));
        Assert.Throws<ArgumentException>(() => new IlpSolver(new IlpOptions { LoadSlack = double.NaN }).Solve(new PlacementProblem(profile, 2)));
    }

    [Fact]
    public void Ilp_WhenRunTwiceWithSameSeed_GivesTheSamePlan()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 4, experts: 16, tokens: 1024));
        var problem = new PlacementProblem(profile, 4, redundant: 4) { Seed = 5, TimeLimit = TimeSpan.FromSeconds(30) };

        var a = new IlpSolver(FastIlp).Solve(problem);
        var b = new IlpSolver(FastIlp).Solve(problem);

        Assert.NotEqual(SolveStatus.TimedOut, a.Status);
        Assert.Equal(a.Plan!.ToAssignment(), b.Plan!.ToAssignment());
        Assert.Equal(a.Summary.Objective, b.Summary.Objective);
    }

    [Fact]
    public void Ilp_WhenLargeLayersUseNeighbourhoodSearch_IsDeterministicAndValid()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 160, topK: 4, tokens: 512));
        var problem = new PlacementProblem(profile, 32, redundant: 8) { Seed = 2, TimeLimit = TimeSpan.FromSeconds(60) };

        var a = new IlpSolver(new IlpOptions { Sweeps = 1 }).Solve(problem);
        var b = new IlpSolver(new IlpOptions { Sweeps = 1 }).Solve(problem);

        Assert.Equal(a.Plan!.ToAssignment(), b.Plan!.ToAssignment());
        Assert.Equal(2 * 168, a.Plan.TotalReplicas);
    }

    [Fact]
    public void Ilp_WhenTraceHasAffinity_BeatsEplbOnHeldOutRemoteFraction()
    {
        var (fit, eval) = TestData.Synthetic(layers: 8, experts: 32, topK: 4, tokens: 4096, sequences: 64).SplitEvenOdd();
        var profile = WorkloadProfile.FromTrace(fit);
        var model = TransitionModel.FromProfile(profile);
        var problem = new PlacementProblem(profile, 4, redundant: 4) { TimeLimit = TimeSpan.FromSeconds(30) };

        var ilp = Simulator.Run(new IlpSolver(FastIlp).Solve(problem).Plan!, eval, new SimulationOptions(), model);
        var eplb = Simulator.Run(new EplbSolver().Solve(problem).Plan!, eval, new SimulationOptions(), model);

        Assert.True(ilp.RemoteFraction < eplb.RemoteFraction - 0.02, $"ilp {ilp.RemoteFraction:F4} vs eplb {eplb.RemoteFraction:F4}");
    }

    [Fact]
    public void Ilp_WhenProfileIsLoadOnly_ReturnsBalancedPlanAndSaysSo()
    {
        // Per layer one hot expert (load 9) and seven of load 1 on 2 pods: total 16, so a balanced plan gives each pod 8
        // (the hot expert's two replicas 4.5 each, plus 3.5 of the rest); experts in id order give one pod 13 of 16.
        var profile = WorkloadProfile.FromLoad("dump", new ExpertLoad(2, 8, [9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9]), topK: 2);
        var problem = new PlacementProblem(profile, 2, redundant: 2);

        var result = new IlpSolver(new IlpOptions()).Solve(problem);
        var contiguous = new ContiguousSolver().Solve(problem).Plan!;

        var plan = Assert.IsType<PlacementPlan>(result.Plan);
        var imbalance = ExpertLoadImbalance.Predicted(plan, profile);
        Assert.True(imbalance <= 1.0 + 1e-9, $"predicted expert-load imbalance {imbalance:F4}: max pod load exceeds the mean");
        Assert.True(imbalance < ExpertLoadImbalance.Predicted(contiguous, profile), "no better balanced than experts in id order");
        Assert.Equal(imbalance, result.Summary.Objective, 9);
        Assert.Contains("load-only profile: balance only", result.Summary.Note, StringComparison.Ordinal);
        Assert.Null(plan.Info.Predicted);
    }

    [Fact]
    public void Solve_WhenPlanIsMade_RecordsProvenanceAndPredictedMetrics()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 256));

        var plan = new EplbSolver().Solve(new PlacementProblem(profile, 2, redundant: 2) { Seed = 4 }).Plan!;

        Assert.Equal("eplb", plan.Info.Solver);
        Assert.Equal(profile.Fingerprint(), plan.Info.ProfileFingerprint);
        Assert.Equal(4, plan.Info.Seed);
        Assert.NotNull(plan.Info.Predicted);
        Assert.Equal(2, plan.Redundant);
    }
}
