using MoeCloud.Cli.Cluster;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Cli.Tests.Cluster;

public sealed class TraceReplayTests
{
    [Fact]
    public void Build_WhenRunTwiceWithTheSameSeed_GivesTheSameRequests()
    {
        var trace = Trace();

        var a = TraceReplay.Build(trace, hidden: 4, tokensPerRequest: 2, seed: 7);
        var b = TraceReplay.Build(trace, hidden: 4, tokensPerRequest: 2, seed: 7);

        Assert.Equal(a.Select(r => r.Tokens), b.Select(r => r.Tokens));
        Assert.Equal(a.Select(r => r.Hidden), b.Select(r => r.Hidden));
        Assert.NotEqual(a[0].Hidden, TraceReplay.Build(trace, hidden: 4, tokensPerRequest: 2, seed: 8)[0].Hidden);
    }

    [Fact]
    public void Build_WhenSeedIsFixed_GivesTheSameInputInEveryProcess()
    {
        // HashCode.Combine would give another value in every process; the seed mix is a fixed function.
        Assert.Equal(3_767_242_411u, RemoteReplica.TieHash(7, 0, 0, 0));

        var requests = TraceReplay.Build(Trace(), hidden: 4, tokensPerRequest: 2, seed: 7);

        var rng = new Random(unchecked((int)3_767_242_411u));
        Assert.Equal(Enumerable.Range(0, 8).Select(_ => (float)((rng.NextDouble() * 2) - 1)), requests[0].Hidden);
        Assert.Equal([0, 1], requests[0].Tokens);
        Assert.Equal("0", requests[0].SequenceId);
    }

    /// <summary>Five tokens of one sequence, one MoE layer, top-1, with gate weights.</summary>
    private static RoutingTrace Trace() => new(
        new TraceManifest { Name = "t", Layers = 1, Experts = 2, TopK = 1, Tokens = 5 },
        [0, 1, 0, 1, 0],
        [1, 1, 1, 1, 1],
        [0, 0, 0, 0, 0]);
}
