using Microsoft.Extensions.Time.Testing;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Tests.Scheduling;

public sealed class WarmupHintsTests
{
    [Fact]
    public void Due_WhenTokensOfOneHomeNeedARemoteExpert_HintsOnlyTheReplicaTheRunnerPicks()
    {
        // Expert 0 of layer 0 lives on pods 1, 2 and 3; four tokens homed on pod 0 need it. The runner on pod 0 sends
        // the whole batch to one replica, chosen by the library's rule; the hints must warm that replica and no other.
        var plan = Plan(4, [[[1, 2, 3], [0]]]);
        var hints = new WarmupHints(null!, new FakeTimeProvider());
        var runnerPick = plan.PodsOf(0, 0)[RemoteReplica.ForBatch<int>(new int[3], 0, 0, 0, RemoteReplica.DefaultSeed)];

        var due = hints.Due("m", plan, 0, [0, 0, 0, 0], [0, 0, 0, 0], topK: 1);

        Assert.Equal([new ExpertReplicaKey("m", 0, 0, runnerPick)], due);
    }

    [Fact]
    public void Due_WhenHomesDiffer_HintsEachHomesRunnerChoice()
    {
        // Layer 1, expert 0 on pods 1 and 2; one token homed on pod 0 and one on pod 3: each home's runner chooses.
        var plan = Plan(4, [[[0], [1]], [[1, 2], [0]]]);
        var hints = new WarmupHints(null!, new FakeTimeProvider());
        var expected = new[] { 0, 3 }
            .Select(home => new ExpertReplicaKey("m", 1, 0, plan.PodsOf(1, 0)[RemoteReplica.ForBatch<int>(new int[2], home, 1, 0, RemoteReplica.DefaultSeed)]))
            .Distinct();

        var due = hints.Due("m", plan, 1, [0, 0], [0, 3], topK: 1);

        Assert.Equal(expected, due);
    }

    [Fact]
    public void Due_WhenAReplicaWasHintedWithinTheInterval_SkipsItUntilItExpires()
    {
        var plan = Plan(2, [[[1], [0]]]);
        var time = new FakeTimeProvider();
        var hints = new WarmupHints(null!, time);

        Assert.Single(hints.Due("m", plan, 0, [0], [0], topK: 1));
        time.Advance(WarmupHints.Interval - TimeSpan.FromSeconds(1));
        Assert.Empty(hints.Due("m", plan, 0, [0], [0], topK: 1));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Single(hints.Due("m", plan, 0, [0], [0], topK: 1));
    }

    [Fact]
    public void Due_WhenMoreReplicasAreHintedThanTheCapacity_TracksAtMostTheCapacity()
    {
        // 64 experts all on pod 1; one token homed on pod 0 per expert: 64 distinct replicas within one interval.
        var plan = Plan(2, [Enumerable.Range(0, 64).Select(_ => new[] { 1 }).ToArray()]);
        var hints = new WarmupHints(null!, new FakeTimeProvider(), capacity: 8);
        var experts = Enumerable.Range(0, 64).Select(e => (short)e).ToArray();

        var due = hints.Due("m", plan, 0, experts, new int[64], topK: 1);

        Assert.Equal(64, due.Count);
        Assert.InRange(hints.Tracked, 1, 8);
    }

    [Fact]
    public void Constructor_WhenCapacityIsBelowTwo_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupHints(null!, new FakeTimeProvider(), capacity: 1));
    }

    private static PlacementPlan Plan(int pods, int[][][] assignment) =>
        new(new PlanMetadata { Version = 1, Solver = "hand" }, Enumerable.Range(0, pods).Select(p => new PodSpec(p, 1000)).ToArray(), assignment);
}
