using MoeCloud.Model.Traces;
using MoeCloud.Placement.Metrics;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class EplbSolverTests
{
    // The example of the README of github.com/deepseek-ai/EPLB ("Interface and Example"): 2 MoE layers x 12 experts,
    // 16 physical replicas per layer (4 redundant), 4 expert groups, 2 nodes of 4 GPUs each. ReadmeLoad is its input
    // weight matrix and ReadmePhy2Log the phy2log its rebalance_experts prints (hierarchical policy), row by row:
    // physical replica (GPU g, slot s) at index 2g + s.
    private static readonly long[] ReadmeLoad =
    [
        90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86,
        20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27,
    ];

    private static readonly int[][] ReadmePhy2Log =
    [
        [5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
        [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1],
    ];

    private static WorkloadProfile Readme() => WorkloadProfile.FromLoad("eplb-readme", new ExpertLoad(2, 12, ReadmeLoad), topK: 2);

    [Fact]
    public void PhysicalToLogical_WhenReadmeExampleHierarchical_MatchesDeepSeekOutputExactly()
    {
        var problem = new PlacementProblem(Readme(), pods: 8, redundant: 4, groups: 4, nodes: 2);

        var phy2log = EplbSolver.PhysicalToLogical(problem);

        Assert.NotNull(phy2log);
        Assert.Equal(ReadmePhy2Log, phy2log);
    }

    [Fact]
    public void Solve_WhenReadmeExampleHierarchical_PlanHoldsTheReadmeExpertsOnEachPod()
    {
        var problem = new PlacementProblem(Readme(), pods: 8, redundant: 4, groups: 4, nodes: 2);

        var plan = new EplbSolver().Solve(problem).Plan!;

        for (var l = 0; l < 2; l++)
        {
            for (var pod = 0; pod < 8; pod++)
            {
                var expected = ReadmePhy2Log[l].Skip(2 * pod).Take(2).Order().ToArray();
                var held = plan.ReplicasOn(pod).Where(r => r.Layer == l).Select(r => r.Expert).Order().ToArray();
                Assert.Equal(expected, held);
            }
        }
    }

    [Fact]
    public void Solve_WhenReadmeExampleGlobal_ReplicatesEveryExpertFillsEveryPodAndBalancesBetter()
    {
        // The README prints no global-policy result; check what the policy promises instead.
        var profile = Readme();

        var plan = new EplbSolver().Solve(new PlacementProblem(profile, pods: 8, redundant: 4)).Plan!;
        var unreplicated = new EplbSolver().Solve(new PlacementProblem(profile, pods: 8)).Plan!;

        for (var l = 0; l < 2; l++)
        {
            var counts = Enumerable.Range(0, 12).Select(e => plan.PodsOf(l, e).Length).ToArray();
            Assert.All(counts, c => Assert.True(c >= 1));
            Assert.Equal(16, counts.Sum());
            Assert.All(plan.ReplicasPerPod(l), n => Assert.Equal(2, n));
        }

        Assert.True(ExpertLoadImbalance.Predicted(plan, profile) <= ExpertLoadImbalance.Predicted(unreplicated, profile));
    }

    [Fact]
    public void Solve_WhenPerReplicaLoadsTie_PacksReplicasInPhysicalOrderAsDeepSeek()
    {
        // Loads 4, 2, 2 with one redundant replica on 2 pods: expert 0 is replicated and all four replicas weigh 2. The
        // original sorts the replicas stably by weight, so its physical order stands (experts 0, 1, 2, then the extra
        // 0): 0 -> pod 0, 1 -> pod 1, 2 -> pod 0 (tie, lowest pod), the extra 0 -> pod 1 (pod 0 is full).
        var profile = WorkloadProfile.FromLoad("tie", new ExpertLoad(1, 3, [4, 2, 2]), topK: 1);

        var plan = new EplbSolver().Solve(new PlacementProblem(profile, pods: 2, redundant: 1)).Plan!;

        Assert.Equal([0, 1], plan.PodsOf(0, 0).ToArray());
        Assert.Equal([1], plan.PodsOf(0, 1).ToArray());
        Assert.Equal([0], plan.PodsOf(0, 2).ToArray());
    }

    [Fact]
    public void Solve_WhenANodeHasFewerSlotsThanItsExperts_ReturnsInfeasibleWithReason()
    {
        // 8 experts in 2 groups on 2 nodes of 2 pods; capacities 1, 1, 3, 3 leave node 0 two slots for its four experts.
        var profile = WorkloadProfile.FromLoad("small", new ExpertLoad(1, 8, [1, 2, 3, 4, 5, 6, 7, 8]), topK: 1);

        var result = new EplbSolver().Solve(new PlacementProblem(profile, 4, 0, [1, 1, 3, 3], groups: 2, nodes: 2));

        Assert.Equal(SolveStatus.Infeasible, result.Status);
        Assert.Contains("node 0 has 2 slots", result.Summary.Note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, 2, "12 experts per layer do not split into 5 groups")]
    [InlineData(4, 3, "8 pods do not split into 3 nodes")]
    [InlineData(2, 4, "2 groups do not spread evenly over 4 nodes")]
    [InlineData(0, 2, "groups and nodes must be positive")]
    [InlineData(4, null, "groups and nodes go together")]
    [InlineData(null, 2, "groups and nodes go together")]
    public void Problem_WhenGroupsAndNodesDoNotFit_ThrowsArgumentExceptionSayingWhy(int? groups, int? nodes, string why)
    {
        var error = Assert.Throws<ArgumentException>(() => new PlacementProblem(Readme(), pods: 8, redundant: 4, groups: groups, nodes: nodes));

        Assert.Contains(why, error.Message, StringComparison.Ordinal);
    }
}
