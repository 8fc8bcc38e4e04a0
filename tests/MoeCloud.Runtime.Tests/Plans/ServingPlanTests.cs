using MoeCloud.Abstractions;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Tests.Plans;

public sealed class ServingPlanTests
{
    [Fact]
    public void From_WhenValid_AnswersLookups()
    {
        var plan = ServingPlan.From(WirePlan.FromAssignment("m", 1, 2, 2, 3, (l, e) => e == 0 ? [0, 1] : [(l + e) % 2]));

        Assert.Equal([0, 1], plan.PodsOf(0, 0).ToArray());
        Assert.True(plan.Holds(1, 0, 1));
        Assert.False(plan.Holds(0, 0, 1));
        Assert.False(plan.Holds(7, 0, 1));
        Assert.Equal(8, plan.Replicas().Count());
    }

    [Theory]
    [InlineData("no-replica")]
    [InlineData("pod-out-of-range")]
    [InlineData("duplicate")]
    [InlineData("bad-offsets")]
    [InlineData("bad-name")]
    [InlineData("zero-version")]
    public void From_WhenDocumentIsBad_ThrowsWithTheProblem(string bad)
    {
        var good = WirePlan.FromAssignment("m", 1, 2, 1, 2, (_, e) => [e]);
        var doc = bad switch
        {
            "no-replica" => good with { Offsets = [0, 0, 2], PodIds = [0, 1] },
            "pod-out-of-range" => good with { PodIds = [0, 5] },
            "duplicate" => good with { Offsets = [0, 2, 3], PodIds = [0, 0, 1] },
            "bad-offsets" => good with { Offsets = [0, 1] },
            "bad-name" => good with { Model = "a/b" },
            _ => good with { Version = 0 },
        };

        Assert.Throws<ArgumentException>(() => ServingPlan.From(doc));
    }
}
