using MoeCloud.Cli.Commands;
using MoeCloud.Model.Synthetic;
using MoeCloud.Testing;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// No request lost when a pod dies, in MoeCloud's real images: Redis, 3 silo containers and the gateway container,
/// started from the StatefulSet and Deployment the operator renders (the same <c>ContainerCluster</c> that
/// <c>moectl bench chaos --mode containers</c> runs), every expert on two pods. Under a steady load through the gateway
/// container (4 requests in flight for 12 s, the client library's default retry policy, every answer compared with the
/// single-process reference) one silo container is killed (SIGKILL) or stopped (SIGTERM) a third of the way in: no
/// request fails, none is wrong, and full service follows. (Before the network's bridge kept its address, about 1 run
/// in 3 here lost the 4 requests in flight: the bridge took another port's address as the stopped container's port
/// left, and the gateway container's replies to this host went to the old one for ~10 s; docs/BENCHMARKS.md
/// "In containers".)
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ContainerChaosTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int InFlight = 4;

    private static readonly TimeSpan Load = TimeSpan.FromSeconds(12);

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

    private static async Task<ChaosResult> RunAsync(string scenario)
    {
        using var temp = new TempDirectory();
        var modelDir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(modelDir, spec, vocab, new SyntheticModelOptions { Seed = 1 });
        var setup = BenchChaosCommand.Prepare("containers", silos: 3, concurrency: InFlight, Load, outage: Load / 3, redisKeepsData: true, modelDir, ContainerImages.Tag);
        using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        return await BenchChaosCommand.RunScenario(scenario, setup, bound.Token);
    }

    private void AssertNoneFailed(ChaosResult result)
    {
        output.WriteLine($"{result.Failed} of {result.Requests} requests failed ({Failures(result)}); recovery {result.RecoverySeconds:F2} s");
        Assert.True(result.Failed == 0, $"{result.Failed} of {result.Requests} requests failed: {Failures(result)}");
    }

    private static string Failures(ChaosResult result) => string.Join(", ", result.Failures.Select(f => $"{f.Key}: {f.Value}"));
}
