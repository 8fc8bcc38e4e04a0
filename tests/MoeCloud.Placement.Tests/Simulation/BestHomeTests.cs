using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class BestHomeTests
{
    // Layer 0: expert 0 on pod 0, expert 1 on pod 1, expert 2 on pods 1 and 2. Layer 1: expert 0 on pod 2, 1 on 0, 2 on 2.
    private static readonly int[][][] Assignment = [[[0], [1], [1, 2]], [[2], [0], [2]]];

    [Fact]
    public void Of_WhenOnePodWouldServeMostDispatchesLocally_ReturnsIt()
    {
        var plan = TestData.Plan(3, Assignment);

        // Experts 1 and 2: pod 1 holds both, pod 2 one.
        Assert.Equal(1, BestHome.Of<int>(plan, 0, [1, 2], 2, new int[3]));
    }

    [Fact]
    public void Of_WhenPodsTie_ReturnsTheLowestPod()
    {
        var plan = TestData.Plan(3, Assignment);

        // Experts 0 and 1: pods 0 and 1 one each.
        Assert.Equal(0, BestHome.Of<int>(plan, 0, [0, 1], 2, new int[3]));

        // Two layers, top-1, [2 | 1]: layer 0 expert 2 counts for pods 1 and 2, layer 1 expert 1 for pod 0.
        Assert.Equal(0, BestHome.Of<int>(plan, 0, [2, 1], 1, new int[3]));
    }

    [Fact]
    public void Of_WhenTheStepStartsAtALaterLayer_CountsThoseLayers()
    {
        var plan = TestData.Plan(3, Assignment);

        // Read as layer 1, experts 0 and 2 are both on pod 2; read as layer 0, pods 0, 1 and 2 hold one each.
        Assert.Equal(2, BestHome.Of<int>(plan, 1, [0, 2], 2, new int[3]));
        Assert.Equal(0, BestHome.Of<int>(plan, 0, [0, 2], 2, new int[3]));
    }

    [Fact]
    public void Of_WhenIdsAreShortOrInt_Agree()
    {
        var plan = TestData.Plan(3, Assignment);

        Assert.Equal(BestHome.Of<int>(plan, 0, [2, 0, 0, 2], 2, new int[3]), BestHome.Of<short>(plan, 0, [2, 0, 0, 2], 2, new int[3]));
    }

    [Fact]
    public void Of_WhenScratchHoldsOldScores_IgnoresThem()
    {
        var plan = TestData.Plan(3, Assignment);

        Assert.Equal(1, BestHome.Of<int>(plan, 0, [1, 2], 2, [100, 0, 0, 7]));
    }

    [Fact]
    public void OfTokens_WhenSeveralTokens_GivesEachTokensBestHome()
    {
        var plan = TestData.Plan(3, Assignment);

        // Two layers, top-1, three tokens: [1 | 2] -> pod 1 once, pod 2 once (layer 1 expert 2): tie, pod 1;
        // [0 | 1] -> pod 0 twice; [2 | 0] -> pod 2 twice.
        Assert.Equal([1, 0, 2], BestHome.OfTokens<int>(plan, 0, 2, 1, [1, 2, 0, 1, 2, 0]));
    }

    [Fact]
    public void Of_WhenTopKDoesNotDivideTheRoutingOrScratchIsShort_ThrowsArgumentException()
    {
        var plan = TestData.Plan(3, Assignment);

        Assert.Throws<ArgumentException>(() => BestHome.Of<int>(plan, 0, [0, 1, 2], 2, new int[3]));
        Assert.Throws<ArgumentException>(() => BestHome.Of<int>(plan, 0, [0, 1], 0, new int[3]));
        Assert.Throws<ArgumentException>(() => BestHome.Of<int>(plan, 0, [0, 1], 2, new int[2]));
        Assert.Throws<ArgumentException>(() => BestHome.OfTokens<int>(plan, 0, 2, 2, [0, 1, 2]));
    }
}
