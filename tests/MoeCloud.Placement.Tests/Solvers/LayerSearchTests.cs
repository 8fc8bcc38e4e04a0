using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

public sealed class LayerSearchTests
{
    // One layer of 72 experts, one replica each, on 4 pods of 18 slots: 72 x 4 = 288 variables, above the full-model
    // limit, so the layer is searched as one group of 4 pods. Expert e earns 100 on pod e mod 4 and nothing elsewhere;
    // the current layer puts it on pod (e + 1) mod 4, so it earns nothing. Every replica weighs 1 and the cap is the
    // 18 slots, so every placement is within the cap. The resampled caps are 256 resamples of that load: a model with
    // 256 more variables and 1,024 more rows of 72 terms, which does not reach a first solution in the floor budget.
    private const int Experts = 72;
    private const int Pods = 4;

    private static readonly long[] Affinity = Enumerable.Range(0, Experts * Pods).Select(i => i % Pods == i / Pods % Pods ? 100L : 0L).ToArray();
    private static readonly long[] Weight = Enumerable.Repeat(1L, Experts * Pods).ToArray();
    private static readonly int[] Counts = Enumerable.Repeat(1, Experts).ToArray();
    private static readonly int[] Slots = Enumerable.Repeat(Experts / Pods, Pods).ToArray();
    private static readonly int[][] Current = Enumerable.Range(0, Experts).Select(e => new[] { (e + 1) % Pods }).ToArray();

    private static ResampledCaps Robust()
    {
        var random = new Random(7);
        var weights = Enumerable.Range(0, 256).Select(_ => Enumerable.Range(0, Experts * Pods).Select(_ => (long)random.Next(1, 3)).ToArray()).ToArray();
        return new ResampledCaps(weights, Cap: Experts / Pods, Penalty: 1);
    }

    private static long Objective(int[][] assignment) => Enumerable.Range(0, Experts).Sum(e => assignment[e].Sum(p => Affinity[(e * Pods) + p]));

    [Fact]
    public void Solve_WhenTheRobustGroupModelFindsNoSolution_ImprovesTheLayerWithThePlainModel()
    {
        var robust = Robust();
        Assert.True(Experts * Pods > LayerSearch.FullModelLimit, "the layer must be searched by groups");
        Assert.Null(LayerSubproblem.Solve(Affinity, Weight, Counts, Slots, Experts / Pods, Current, seed: 3, LayerSearch.MinGroupSeconds, workers: 1, robust: robust));

        var result = LayerSearch.Solve(Affinity, Weight, Counts, Slots, Experts / Pods, Current, seed: 3, deterministicSeconds: LayerSearch.MinGroupSeconds, workers: 1, robust);

        Assert.True(result.Improved, "the layer kept its warm start");
        Assert.Equal(1, result.PlainFallbacks);
        Assert.True(Objective(result.Assignment) > Objective(Current), $"objective {Objective(result.Assignment)} is no better than the warm start's {Objective(Current)}");
        Assert.All(Enumerable.Range(0, Pods), p => Assert.Equal(Slots[p], result.Assignment.Count(pods => pods.Contains(p))));
    }
}
