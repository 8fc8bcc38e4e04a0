using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class ResampledBalanceTests
{
    // The hand case of the resampled-balance objective: one layer, experts A, B, C, D (0..3), one replica each, 2 pods of
    // 2 slots. Fitted loads are 10 each, so every pairing meets the fitted cap of 20. Resample 1 loads A, B, C, D with
    // 14, 14, 6, 6; resample 2 with 6, 6, 14, 14 (the even share, the same on both pods). Affinity: A and B want pod 0
    // (5 each), C and D want pod 1 (5 each). B = 2 resamples, so the objective is 2 · Σ a · x − penalty · Σ_b (z_b − 20):
    //   {A, B} | {C, D}: affinity 20; pod loads 28 | 12 in resample 1 and 12 | 28 in resample 2, z = 28, 28, excess 16:
    //                    2 · 20 − 16 · penalty.
    //   {A, C} | {B, D}: affinity 5 + 0 + 0 + 5 = 10; loads 20 | 20 in both resamples, excess 0: 2 · 10 = 20.
    //   {A, D} | {B, C}: affinity 5 + 0 + 0 + 5 = 10; loads 20 | 20 in both, excess 0: 20.
    // (The mirrored placements score less.) Penalty 1: 40 − 16 = 24 > 20, the affinity pairing stays.
    // Penalty 2: 40 − 32 = 8 < 20, A and B go to different pods (as do C and D), and no resample exceeds the cap.
    private static readonly long[] Affinity = [5, 0, 5, 0, 0, 5, 0, 5];
    private static readonly long[] Fitted = [10, 10, 10, 10, 10, 10, 10, 10];
    private static readonly long[] ShiftToAb = [14, 14, 14, 14, 6, 6, 6, 6];
    private static readonly long[] ShiftToCd = [6, 6, 6, 6, 14, 14, 14, 14];

    private static int[][] SolveHandCase(ResampledCaps? robust) =>
        LayerSubproblem.Solve(Affinity, Fitted, [1, 1, 1, 1], [2, 2], 20, [[0], [0], [1], [1]], seed: 1, deterministicSeconds: 5, workers: 1, robust: robust)!.Assignment;

    [Fact]
    public void LayerSubproblem_WhenResampledExcessCostsMoreThanAffinity_SplitsTheExpertsThatShiftTogether()
    {
        var assignment = SolveHandCase(new ResampledCaps([ShiftToAb, ShiftToCd], Cap: 20, Penalty: 2));

        Assert.NotEqual(assignment[0], assignment[1]);
        Assert.NotEqual(assignment[2], assignment[3]);
    }

    [Fact]
    public void LayerSubproblem_WhenResampledExcessCostsLessThanAffinity_KeepsTheAffinityPairing()
    {
        var assignment = SolveHandCase(new ResampledCaps([ShiftToAb, ShiftToCd], Cap: 20, Penalty: 1));

        Assert.Equal([[0], [0], [1], [1]], assignment);
    }

    [Fact]
    public void LayerSubproblem_WhenNoResamples_KeepsTheAffinityPairing()
    {
        Assert.Equal([[0], [0], [1], [1]], SolveHandCase(robust: null));
    }

    [Fact]
    public void Ilp_WhenResamplingWithSameSeed_GivesTheSamePlan()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 3, experts: 16, tokens: 512, sequences: 8));
        var problem = new PlacementProblem(profile, 4, redundant: 4) { Seed = 7, TimeLimit = TimeSpan.FromSeconds(60) };
        var options = new IlpOptions { Sweeps = 2, Resamples = 6, ResampleWeight = 2, HedgeDeviations = 1 };

        var a = new IlpSolver(options).Solve(problem);
        var b = new IlpSolver(options).Solve(problem);

        Assert.Equal(a.Plan!.ToAssignment(), b.Plan!.ToAssignment());
        Assert.Equal(a.Summary.Objective, b.Summary.Objective);
    }

    [Fact]
    public void ResampledLoads_WhenSameSeed_DrawsTheSameLoadsAndAnotherSeedOthers()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 256, sequences: 8));

        var a = ResampledLoads.Create(profile, 4, seed: 3);
        var b = ResampledLoads.Create(profile, 4, seed: 3);
        var c = ResampledLoads.Create(profile, 4, seed: 4);

        Assert.Equal(a.Load(1, 2), b.Load(1, 2));
        Assert.NotEqual(a.Load(1, 2), c.Load(1, 2));
    }

    [Fact]
    public void Ilp_WhenHedging_GivesTheRedundantReplicaToTheExpertWhoseLoadVariesMost()
    {
        // 8 sequences of 4 tokens, top-1, one layer: expert 1 is all of sequence 0 (load 4, and 0 or 4, 8, ... in a
        // resample: standard deviation 4 · √(8 · 1/8 · 7/8) ≈ 3.7); expert 0 is one token of each of sequences 1-5
        // (load 5, deviation ≈ 1.4); expert 2 is the rest (23). On 2 pods, expert 2 takes the first redundant replica
        // either way and can take no more; EPLB's rule gives the second to expert 0 (5 > 4), hedging with k = 2 to
        // expert 1 (4 + 2 · 3.7 ≈ 11.5 > 5 + 2 · 1.4 ≈ 7.7).
        int[][] sequences =
        [
            [1, 1, 1, 1], [0, 2, 2, 2], [0, 2, 2, 2], [0, 2, 2, 2], [0, 2, 2, 2], [0, 2, 2, 2], [2, 2, 2, 2], [2, 2, 2, 2],
        ];
        var routing = sequences.SelectMany(s => s.Select(e => new[] { new[] { e } })).ToArray();
        var seqIds = sequences.SelectMany((s, i) => s.Select(_ => i)).ToArray();
        var profile = WorkloadProfile.FromTrace(TestData.Trace(3, routing, seqIds));
        var problem = new PlacementProblem(profile, 2, redundant: 2) { TimeLimit = TimeSpan.FromSeconds(60) };

        var eplbRule = new IlpSolver(new IlpOptions { Sweeps = 1, Resamples = 64, HedgeDeviations = 0 }).Solve(problem).Plan!;
        var hedged = new IlpSolver(new IlpOptions { Sweeps = 1, Resamples = 64, HedgeDeviations = 2 }).Solve(problem).Plan!;

        Assert.Equal([2, 1, 2], Enumerable.Range(0, 3).Select(e => eplbRule.PodsOf(0, e).Length));
        Assert.Equal([1, 2, 2], Enumerable.Range(0, 3).Select(e => hedged.PodsOf(0, e).Length));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.1)]
    public void LayerModel_WhenPodsPerNode_KeepsACoActivatedGroupWithinOneNode(double nodeWeight)
    {
        // ilp's layer model with the homes fixed, 4 pods in nodes of 2 ({0, 1}, {2, 3}), slots 2, 1, 1, 1, one replica
        // each. Tokens homed on pod 0 use the group A, B, X (0, 1, 2; local affinity 10, 10, 6); tokens homed on pod 3
        // use D (3; 10) and E (4; 4). Pod 0 takes A and B, pod 3 takes D, so X and E take pods 1 and 2: without nodes
        // both ways score 46 (the hint, X on pod 2 away from its group, is optimal). With nodes, X on pod 1 adds
        // β · 6 (its group's home node) and E on pod 2 adds β · 4; the other way adds 0: the group stays in node 0.
        long[] tokens =
        [
            10, 0, 0, 0,
            10, 0, 0, 0,
            6, 0, 0, 0,
            0, 0, 0, 10,
            0, 0, 0, 4,
        ];
        var affinity = tokens.Select(a => (double)a).ToArray();
        IlpSolver.AddNodeAffinity(affinity, tokens.Select(a => (double)a).ToArray(), pods: 4, podsPerNode: 2, weight: nodeWeight);

        var outcome = LayerSubproblem.Solve(affinity.Select(a => (long)Math.Round(a * 100)).ToArray(), new long[20], [1, 1, 1, 1, 1], [2, 1, 1, 1], 1000, [[0], [0], [2], [3], [1]], seed: 1, deterministicSeconds: 5, workers: 1)!;

        Assert.Equal([[0], [0], [1], [3], [2]], outcome.Assignment);
    }

    [Fact]
    public void AddNodeAffinity_WhenTwoPodsPerNode_AddsTheWeightedAffinityOfTheNodesOtherPod()
    {
        // One expert, 4 pods in nodes {0, 1}, {2, 3}, token affinity 1, 2, 3, 4: with β = 0.5, pod 0 gains 0.5 · 2, pod 1
        // 0.5 · 1, pod 2 0.5 · 4, pod 3 0.5 · 3.
        double[] tokens = [1, 2, 3, 4];
        var affinity = (double[])tokens.Clone();

        IlpSolver.AddNodeAffinity(affinity, tokens, pods: 4, podsPerNode: 2, weight: 0.5);

        Assert.Equal([2, 2.5, 5, 5.5], affinity);
    }

    [Fact]
    public void Ilp_WhenPodsPerNodeDoesNotDividePods_Throws()
    {
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 8, tokens: 64));

        var error = Assert.Throws<ArgumentException>(() => new IlpSolver(new IlpOptions { PodsPerNode = 3 }).Solve(new PlacementProblem(profile, 4)));

        Assert.Contains("does not divide the 4 pods", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1, 1, 1, 0, 0.5, "Resamples")]
    [InlineData(8, double.NaN, 1, 0, 0.5, "ResampleWeight")]
    [InlineData(8, 1, -0.5, 0, 0.5, "HedgeDeviations")]
    [InlineData(8, 1, 1, -2, 0.5, "PodsPerNode")]
    [InlineData(8, 1, 1, 0, 1.5, "NodeWeight")]
    public void IlpOptions_WhenResamplingOrNodeValueIsOutOfRange_ThrowsNamingIt(int resamples, double weight, double hedge, int podsPerNode, double nodeWeight, string name)
    {
        var options = new IlpOptions { Resamples = resamples, ResampleWeight = weight, HedgeDeviations = hedge, PodsPerNode = podsPerNode, NodeWeight = nodeWeight };

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.StartsWith(name + " must be", error.Message, StringComparison.Ordinal);
    }
}
