using MoeCloud.Cli.Commands;
using MoeCloud.Model.Synthetic;
using MoeCloud.Testing;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// No request lost when a pod dies, in MoeCloud's real images: Redis, 3 silo containers and the gateway container,
/// started from the StatefulSet and Deployment the operator renders (the same <c>ContainerCluster</c> and scenario code
/// that <c>moectl bench chaos --mode containers</c> runs), every expert on two pods. Under a steady load through the
/// gateway container (4 requests in flight for 12 s, the client library's default retry policy, every answer compared
/// with the single-process reference) one fault strikes a third of the way in: a silo container killed (SIGKILL) or
/// stopped (SIGTERM), one of two gateway containers killed and started again, the Redis container killed and started
/// again (with its data or empty), a silo container disconnected from the network and connected again (each for 4 s),
/// or the silo container holding the only replicas of a third of the experts killed (the repair plan re-places them).
/// A killed or stopped silo fails no request (before the network's bridge kept its address, about 1 run in 3 here lost
/// the 4 requests in flight: the bridge took another port's address as the stopped container's port left, and the
/// gateway container's replies to this host went to the old one for ~10 s; docs/BENCHMARKS.md "In containers"), and
/// neither does a gateway restart (before the client set aside a replica whose connections failed, 4 runs in 11 lost
/// 145-302 requests: gRPC's balancer kept sending calls to the dead gateway; docs/BENCHMARKS.md, Chaos). The other
/// faults' tests check what holds on every run: no wrong answer, only the failures the scenario allows, and full
/// service afterwards; the failed count is written to the test output.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ContainerChaosTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int InFlight = 4;

    private static readonly TimeSpan Load = TimeSpan.FromSeconds(12);

    private static readonly TimeSpan Outage = Load / 3;

    [ContainerFact]
    public async Task SiloContainerKilled_UnderLoadThroughTheGatewayContainer_NoRequestFailsOrIsWrong()
    {
        var result = await RunAsync("kill");

        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        AssertNoneFailed(result);
        Assert.Equal(0, result.AfterFailed);
        Assert.Equal("the silo container exited with 137", result.Note);
    }

    [ContainerFact]
    public async Task SiloContainerTerminated_UnderLoadThroughTheGatewayContainer_NoRequestFailsOrIsWrong()
    {
        var result = await RunAsync("term");

        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        AssertNoneFailed(result);
        Assert.Equal(0, result.AfterFailed);
        Assert.Equal("the silo container exited with 0", result.Note);
    }

    [ContainerFact]
    public async Task GatewayContainerKilledAndStartedAgain_WithAClientGivenBothGateways_NoRequestFailsOrIsWrong()
    {
        var result = await RunAsync("gateway-restart");

        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        AssertNoneFailed(result);
        Assert.True(result.OutageSeconds >= Outage.TotalSeconds, $"outage {result.OutageSeconds} s");
        Assert.Equal(0, result.AfterFailed);
    }

    [ContainerFact]
    public Task RedisContainerKilledAndStartedAgain_WithItsData_NoRequestIsWrongNoSiloExitsAndOnlyRequestsInTheOutageFail() =>
        RedisRestartAsync(keepData: true, "Redis (membership) restarted");

    [ContainerFact]
    public Task RedisContainerKilledAndStartedAgain_Empty_NoRequestIsWrongNoSiloExitsAndOnlyRequestsInTheOutageFail() =>
        RedisRestartAsync(keepData: false, "Redis (membership) restarted empty");

    [ContainerFact]
    public async Task SiloContainerDisconnectedFromTheNetworkAndConnectedAgain_UnderLoad_NoRequestIsWrongAndServiceIsFullAfterwards()
    {
        var result = await RunAsync("partition");

        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        Log(result);
        Assert.All(result.Failures.Keys, k => Assert.Contains(k, new[] { "DeadlineExceeded", "Unavailable" }));
        Assert.True(result.OutageSeconds >= Outage.TotalSeconds, $"outage {result.OutageSeconds} s");
        Assert.Equal(0, result.AfterFailed);
    }

    [ContainerFact]
    public async Task SiloContainerWithTheOnlyReplicasKilled_UnderLoad_RepairPlanTakesEffectNoRequestIsWrongAndServiceIsFullAfterwards()
    {
        var result = await RunAsync("kill-sole-replica");

        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        Log(result);
        // A request that needed a re-placed expert waits for the repair plan until its deadline; one that runs out ends
        // DeadlineExceeded, or Cancelled when the gateway's own call is cancelled at the deadline and answers first.
        Assert.All(result.Failures.Keys, k => Assert.Contains(k, new[] { "DeadlineExceeded", "Cancelled", "Unavailable" }));
        Assert.NotNull(result.RepairSeconds);
        Assert.Contains("repair plan 2 in effect", result.Note, StringComparison.Ordinal);
        Assert.Equal(0, result.AfterFailed);
    }

    private async Task RedisRestartAsync(bool keepData, string name)
    {
        var result = await RunAsync("redis-restart", keepData);

        Assert.Equal(name, result.Name);
        Assert.True(result.Requests >= 4, $"only {result.Requests} requests under load");
        Assert.Equal(0, result.Wrong);
        Log(result);
        Assert.Equal(result.Failed, result.FailedInOutage);
        Assert.All(result.Failures.Keys, k => Assert.Equal("DeadlineExceeded", k));
        Assert.Equal("every silo kept running", result.Note);
        Assert.Equal(0, result.AfterFailed);
    }

    private static async Task<ChaosResult> RunAsync(string scenario, bool redisKeepsData = true)
    {
        using var temp = new TempDirectory();
        var modelDir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(modelDir, spec, vocab, new SyntheticModelOptions { Seed = 1 });
        var setup = BenchChaosCommand.Prepare("containers", silos: 3, concurrency: InFlight, Load, Outage, redisKeepsData, modelDir, ContainerImages.Tag);
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        return await BenchChaosCommand.RunScenario(scenario, setup, bound.Token);
    }

    private void AssertNoneFailed(ChaosResult result)
    {
        Log(result);
        Assert.True(result.Failed == 0, $"{result.Failed} of {result.Requests} requests failed: {Failures(result)}");
    }

    private void Log(ChaosResult result) =>
        output.WriteLine($"{result.Name}: {result.Failed} of {result.Requests} requests failed ({Failures(result)}); recovery {result.RecoverySeconds:F2} s; repair {result.RepairSeconds:F2} s; {result.Note}");

    private static string Failures(ChaosResult result) => string.Join(", ", result.Failures.Select(f => $"{f.Key}: {f.Value}"));
}
