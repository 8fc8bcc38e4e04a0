using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Testing;
using Xunit.Abstractions;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// A standby: a joined pod above the plan's pods, holding no experts. Its runner still takes whole steps (a warm-up sends
/// it some before a scale-out uses it) and runs them on the plan's pods.
/// </summary>
public sealed class StandbyRunnerTests(ITestOutputHelper output)
{
    private const string Model = "tiny";
    private const int Tokens = 8;

    [Fact]
    public async Task Step_OnAStandbyAboveThePlansPods_RunsOnThePlansPodsAndEqualsTheReference()
    {
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get(Model);
        SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 5 });
        ReferenceForward reference;
        using (var checkpoint = ModelCheckpoint.Open(dir.Combine(Model)))
        {
            reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
        }

        var logs = new TestOutputLogging(output);
        await using var cluster = await EmbeddedCluster.Start(3, new Dictionary<string, string> { [Model] = dir.Combine(Model) }, TestOutputLogging.Levels, services: logs.AddTo);
        await cluster.Publish(WirePlan.FromAssignment(Model, 1, 2, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % 2]));

        // A standby is not sent the plan (only the plan's pods adopt it); it catches up with the registry's active plan.
        var standbyPlans = cluster.Silos[2].App.Services.GetRequiredService<SiloPlanState>();
        for (var i = 0; i < 600 && standbyPlans.Get(Model) is null; i++)
        {
            await Task.Delay(50);
        }

        Assert.NotNull(standbyPlans.Get(Model));
        using var channel = GrpcChannel.ForAddress(cluster.Silos[2].RunnerAddress);
        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 97);
        var response = await new MoeService.MoeServiceClient(channel).ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(30));

        Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
        Assert.Equal(0, response.LocalDispatches);
        Assert.Equal(Tokens * spec.TopK * spec.MoeLayers, response.RemoteDispatches);
    }
}
