using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Commands;
using MoeCloud.Cli.Tests.Commands;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Profiles;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>
/// Scale steps on silo processes behind the gateway, under a light steady load whose every answer is compared with the
/// single-process reference (the tiny model).
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class LocalScalerTests
{
    private const string Model = "tiny";

    [Fact]
    public async Task ScaleOutAsync_WhenTwoPodsGrowToThreeUnderLoad_StartsASiloFailsNoRequestAndServesOnTheNewPod()
    {
        await using var rig = await Rig.Start(silos: 2, planPods: 2);

        var (timings, failed, wrong) = await rig.UnderLoad(() => rig.Scaler.ScaleOutAsync(3, CancellationToken.None));

        Assert.Equal(1, timings.StartedSilos);
        Assert.Equal(3, timings.ToPods);
        Assert.NotNull(timings.ServedSeconds);
        Assert.Equal(0, failed);
        Assert.Equal(0, wrong);
        var plan = await rig.ActivePlan();
        Assert.Equal(3, plan.Pods);
        Assert.Contains(2, plan.PodIds);
    }

    [Fact]
    public async Task ScaleOutAsync_WhenAStandbyIsJoined_ItServesNothingUntilThePlanUsesItThenServes()
    {
        await using var rig = await Rig.Start(silos: 3, planPods: 2);
        var standby = rig.Cluster.Endpoints[2];

        var (_, failedBefore, _) = await rig.UnderLoad(() => Task.FromResult(0));
        var servedBefore = await SiloServing.Total([standby], Model, CancellationToken.None);
        var (timings, failed, wrong) = await rig.UnderLoad(() => rig.Scaler.ScaleOutAsync(3, CancellationToken.None));

        Assert.Equal(0, failedBefore);
        Assert.Equal(0, servedBefore);
        Assert.Equal(0, timings.StartedSilos);
        Assert.NotNull(timings.ServedSeconds);
        Assert.True(await SiloServing.Total([standby], Model, CancellationToken.None) > 0);
        Assert.Equal(0, failed);
        Assert.Equal(0, wrong);
    }

    [Fact]
    public async Task SetStandbyAsync_WarmsTheStandbyItStartsWithRequestsThroughItsRunner_WhileThePlanKeepsItsPods()
    {
        await using var rig = await Rig.Start(silos: 2, planPods: 2, new LocalScalerOptions { StandbyWarmup = TimeSpan.FromSeconds(4) });

        Assert.Equal(1, await rig.Scaler.SetStandbyAsync(1, CancellationToken.None));
        var standby = rig.Cluster.Endpoints[2];
        await rig.Scaler.StandbyWarmups;

        // The standby ran whole steps as a runner (routing them to the plan's pods): its served count is its requests
        // alone, since it holds no experts and its kernels computed nothing.
        Assert.Equal(0, await SiloScrape.Sum([standby], "moecloud_silo_kernel_tokens_total", CancellationToken.None));
        Assert.True(await SiloServing.Total([standby], Model, CancellationToken.None) > 0, "the standby ran no request");
        Assert.Equal(2, (await rig.ActivePlan()).Pods);
    }

    [Fact]
    public async Task SetStandbyAsync_WhenTheStandbyWarmupIsZero_SendsTheStandbyNothing()
    {
        await using var rig = await Rig.Start(silos: 2, planPods: 2, new LocalScalerOptions { StandbyWarmup = TimeSpan.Zero });

        Assert.Equal(1, await rig.Scaler.SetStandbyAsync(1, CancellationToken.None));
        await rig.Scaler.StandbyWarmups;

        Assert.Equal(0, await SiloServing.Total([rig.Cluster.Endpoints[2]], Model, CancellationToken.None));
    }

    [Fact]
    public async Task ScaleInAsync_WhenThreePodsShrinkToTwoUnderLoad_MovesExpertsOffStopsTheTopSiloAndFailsNoRequest()
    {
        await using var rig = await Rig.Start(silos: 3, planPods: 3);

        var (timings, failed, wrong) = await rig.UnderLoad(() => rig.Scaler.ScaleInAsync(2, CancellationToken.None));

        Assert.Equal(1, timings.StoppedSilos);
        Assert.Equal(2, rig.Cluster.Endpoints.Count);
        var plan = await rig.ActivePlan();
        Assert.Equal(2, plan.Pods);
        Assert.DoesNotContain(2, plan.PodIds);
        Assert.Equal(0, failed);
        Assert.Equal(0, wrong);
    }

    /// <summary>A cluster, a plan on its first pods, a gateway, the reference load and a scaler.</summary>
    private sealed class Rig(ProcessCluster cluster, LocalGateway gateway, MoeCloudClient client, ChaosLoad load, LocalScaler scaler) : IAsyncDisposable
    {
        public ProcessCluster Cluster => cluster;

        public LocalScaler Scaler => scaler;

        public static async Task<Rig> Start(int silos, int planPods, LocalScalerOptions? options = null)
        {
            var ct = CancellationToken.None;
            var modelDir = await DemoDeployment.EnsureModel(Model, seed: 1, TextWriter.Null, ct);
            using var checkpoint = ModelCheckpoint.Open(modelDir);
            var spec = checkpoint.Spec;
            var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
            var inputs = Enumerable.Range(0, 8).Select(i => RuntimeCommands.RandomHidden(4, spec.Hidden, seed: 1000 + i)).ToArray();
            var expected = inputs.Select(x => reference.ForwardStack(0, spec.MoeLayers - 1, x, 4)).ToArray();
            var profile = WorkloadProfile.FromTrace(await DemoDeployment.Record(modelDir, tokens: 256, sequences: 4, seed: 1, ct));
            var cluster = await ProcessCluster.Start(silos, new Dictionary<string, string> { [Model] = modelDir }, TextWriter.Null, ct);
            try
            {
                await cluster.Publish(WirePlan.FromAssignment(Model, 1, planPods, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % planPods]));
                var gateway = await LocalGateway.Start(cluster, Model, modelDir, profile: null, HomePolicyName.Speculative, ct);
                var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey, Deadline = TimeSpan.FromSeconds(20) });
                return new Rig(cluster, gateway, client, new ChaosLoad(spec.Hidden, spec.MoeLayers, 4, inputs, expected), new LocalScaler(cluster, Model, profile, options));
            }
            catch
            {
                await cluster.DisposeAsync();
                throw;
            }
        }

        /// <summary>Runs <paramref name="action"/> while one lane sends requests, and 8 more after it; the failed and wrong answers.</summary>
        public async Task<(T Result, int Failed, int Wrong)> UnderLoad<T>(Func<Task<T>> action)
        {
            using var stop = new CancellationTokenSource();
            var outcomes = new List<ChaosOutcome>();
            var lane = Task.Run(async () =>
            {
                var n = 0;
                for (; !stop.IsCancellationRequested; n++)
                {
                    outcomes.Add(await load.Send(client, n, CancellationToken.None));
                    await Task.Delay(20, CancellationToken.None);
                }

                for (var end = n + 8; n < end; n++)
                {
                    outcomes.Add(await load.Send(client, n, CancellationToken.None));
                }
            });
            T result;
            try
            {
                result = await action();
            }
            finally
            {
                await stop.CancelAsync();
                await lane;
            }

            return (result, outcomes.Count(o => o.Status == ChaosStatus.Failed), outcomes.Count(o => o.Status == ChaosStatus.Wrong));
        }

        public async Task<WirePlan> ActivePlan() => await cluster.Grains.GetGrain<IPlanRegistryGrain>(Model).GetActive() ?? throw new InvalidOperationException("no active plan");

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await gateway.DisposeAsync();
            await cluster.DisposeAsync();
        }
    }
}
