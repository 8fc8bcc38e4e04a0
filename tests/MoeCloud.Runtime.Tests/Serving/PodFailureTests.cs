using Grpc.Core;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>A pod that goes away while steps are dispatching to it: no step may return a wrong result.</summary>
public sealed class PodFailureTests
{
    [Fact]
    public async Task RemotePodStoppingMidStep_GivesEveryStepTheReferenceResultOrAClearUnavailableError()
    {
        const string model = "tiny";
        const int pods = 3, tokens = 8;
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(dir.Combine(model), spec, vocab, new SyntheticModelOptions { Seed = 5 });
        ReferenceForward reference;
        using (var checkpoint = ModelCheckpoint.Open(dir.Combine(model)))
        {
            reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
        }

        await using var cluster = await EmbeddedCluster.Start(pods, new Dictionary<string, string> { [model] = dir.Combine(model) });
        // Every expert on two pods, so that whatever pod 2 served has a replica elsewhere.
        await cluster.Publish(WirePlan.FromAssignment(model, 1, pods, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % pods, (e + l + 1) % pods]));
        using var channel0 = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        using var channel1 = GrpcChannel.ForAddress(cluster.Silos[1].RunnerAddress);
        MoeService.MoeServiceClient[] runners = [new(channel0), new(channel1)];
        var inputs = Enumerable.Range(0, 8).Select(i => RequestFactory.Hidden(tokens, spec.Hidden, seed: 60 + i)).ToArray();
        var expected = inputs.Select(x => reference.ForwardStack(0, spec.MoeLayers - 1, x, tokens)).ToArray();

        // Steps on pods 0 and 1 run while pod 2 stops; every outcome is recorded.
        var outcomes = new List<(int Input, float[]? Output, RpcException? Error)>();
        using var stop = new CancellationTokenSource();
        async Task Loop(int runner)
        {
            for (var i = 0; !stop.IsCancellationRequested || i < 4; i++)
            {
                var input = (i + runner) % inputs.Length;
                try
                {
                    var response = await runners[runner].ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, inputs[input], tokens, spec.Hidden));
                    lock (outcomes)
                    {
                        outcomes.Add((input, TensorCodec.ReadMatrix(response.Hidden).Values, null));
                    }
                }
                catch (RpcException e)
                {
                    lock (outcomes)
                    {
                        outcomes.Add((input, null, e));
                    }
                }
            }
        }

        var loops = new[] { Loop(0), Loop(1) };
        await Task.Delay(200);
        Assert.True(await SiloShutdown.Stop(cluster.Silos[2].App), "pod 2's silo did not stop within its shutdown timeout");
        await Task.Delay(500);
        stop.Cancel();
        await Task.WhenAll(loops);

        // After the stop, steps are served by the surviving replicas.
        var after = await runners[0].ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, inputs[0], tokens, spec.Hidden));

        Assert.NotEmpty(outcomes);
        foreach (var (input, output, error) in outcomes)
        {
            if (output is not null)
            {
                Assert.True(RequestFactory.MaxRelativeError(expected[input], output) <= 1e-4, $"a step returned a wrong result (input {input})");
            }
            else
            {
                Assert.Equal(StatusCode.Unavailable, error!.StatusCode);
                Assert.Contains("pod", error.Status.Detail, StringComparison.OrdinalIgnoreCase);
            }
        }

        Assert.True(RequestFactory.MaxRelativeError(expected[0], TensorCodec.ReadMatrix(after.Hidden).Values) <= 1e-4);
    }
}
