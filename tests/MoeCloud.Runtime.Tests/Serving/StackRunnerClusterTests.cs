using Grpc.Core;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Tests.Serving;

[Collection(ClusterCollection.Name)]
public sealed class StackRunnerClusterTests(ClusterFixture fixture)
{
    private int Hidden => fixture.Reference.Model.Spec.Hidden;

    private int Layers => fixture.Reference.Model.Spec.MoeLayers;

    [Fact]
    public async Task Forward_OnEveryPod_EqualsTheReferenceAndCountsDispatchesByThePlan()
    {
        var plan = ServingPlan.From((await fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model).GetActive())!);
        for (var pod = 0; pod < ClusterFixture.Pods; pod++)
        {
            const int tokens = 12;
            var hidden = RequestFactory.Hidden(tokens, Hidden, seed: 100 + pod);
            long expectedLocal = 0, expectedRemote = 0;
            var expected = fixture.Reference.ForwardStack(0, Layers - 1, hidden, tokens, onRouting: (l, routing) =>
            {
                foreach (var e in routing.ExpertIds)
                {
                    if (plan.Holds(pod, l, e))
                    {
                        expectedLocal++;
                    }
                    else
                    {
                        expectedRemote++;
                    }
                }
            });

            var response = await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(ClusterFixture.Model, 0, Layers - 1, hidden, tokens, Hidden));

            var (actual, _, _) = TensorCodec.ReadMatrix(response.Hidden);
            Assert.True(RequestFactory.MaxRelativeError(expected, actual) <= 1e-4, $"pod {pod}: error {RequestFactory.MaxRelativeError(expected, actual)}");
            Assert.Equal(expectedLocal, response.LocalDispatches);
            Assert.Equal(expectedRemote, response.RemoteDispatches);
            Assert.Equal(tokens * Layers * fixture.Reference.Model.Spec.TopK, response.LocalDispatches + response.RemoteDispatches);
            Assert.All(response.HomePods, p => Assert.Equal(pod, p));
        }
    }

    [Fact]
    public async Task Forward_WithForcedRouting_UsesItInsteadOfTheGate()
    {
        const int tokens = 5;
        var spec = fixture.Reference.Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, Hidden, seed: 5);
        var layers = 2;
        var ids = new int[tokens * layers * spec.TopK];
        var weights = new float[ids.Length];
        var forced = new List<RoutingAssignment>();
        for (var l = 0; l < layers; l++)
        {
            var lids = new int[tokens * spec.TopK];
            var lw = new float[lids.Length];
            for (var t = 0; t < tokens; t++)
            {
                for (var k = 0; k < spec.TopK; k++)
                {
                    lids[(t * spec.TopK) + k] = (t + (3 * k) + l) % spec.Experts;
                    lw[(t * spec.TopK) + k] = 0.25f + (0.1f * k);
                    ids[(((t * layers) + l) * spec.TopK) + k] = lids[(t * spec.TopK) + k];
                    weights[(((t * layers) + l) * spec.TopK) + k] = lw[(t * spec.TopK) + k];
                }
            }

            forced.Add(new RoutingAssignment(tokens, spec.TopK, lids, lw));
        }

        var expected = fixture.Reference.ForwardStack(1, 2, hidden, tokens, forced);
        var request = RequestFactory.Forward(ClusterFixture.Model, 1, 2, hidden, tokens, Hidden);
        request.Routing = TensorCodec.WriteRouting(ids, weights, spec.TopK);

        var response = await fixture.Runner(1).ForwardAsync(request);

        Assert.True(RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
    }

    [Fact]
    public async Task ForwardLayer_EqualsTheReferenceLayer()
    {
        const int tokens = 7;
        var x = RequestFactory.Hidden(tokens, Hidden, seed: 9);
        var last = Layers - 1;
        var expected = fixture.Reference.ForwardLayer(last, x, tokens);

        var response = await fixture.Runner(2).ForwardLayerAsync(new ForwardLayerRequest { Model = ClusterFixture.Model, Layer = last, Hidden = TensorCodec.WriteMatrix(x, tokens, Hidden) });

        Assert.True(RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
    }

    [Fact]
    public async Task Replicas_AreActivatedOnThePodsThePlanNames()
    {
        var active = (await fixture.Cluster.Grains.GetGrain<IPlanRegistryGrain>(ClusterFixture.Model).GetActive())!;
        foreach (var replica in ServingPlan.From(active).Replicas().Take(12))
        {
            var status = await fixture.Cluster.Grains.GetGrain<IExpertGrain>(replica.ToString()).Warm();

            Assert.Equal($"pod-{replica.Pod}", status.Silo);
        }
    }

    [Fact]
    public async Task ForwardStream_AnswersEveryStepInOrder()
    {
        using var call = fixture.Runner(0).ForwardStream();
        var inputs = Enumerable.Range(0, 4).Select(i => RequestFactory.Hidden(1, Hidden, seed: 50 + i)).ToArray();
        foreach (var (input, i) in inputs.Select((x, i) => (x, i)))
        {
            var request = RequestFactory.Forward(ClusterFixture.Model, 0, Layers - 1, input, 1, Hidden);
            request.RequestId = $"step-{i}";
            await call.RequestStream.WriteAsync(request);
        }

        await call.RequestStream.CompleteAsync();
        var i2 = 0;
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            Assert.Equal($"step-{i2}", response.RequestId);
            var expected = fixture.Reference.ForwardStack(0, Layers - 1, inputs[i2], 1);
            Assert.True(RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
            i2++;
        }

        Assert.Equal(inputs.Length, i2);
    }

    [Fact]
    public async Task GetModel_DescribesTheModelAndPlan()
    {
        var info = await fixture.Runner(0).GetModelAsync(new GetModelRequest { Model = ClusterFixture.Model });

        Assert.Equal(fixture.Reference.Model.Spec.Experts, info.Experts);
        Assert.Equal(Layers, info.MoeLayers);
        Assert.True(info.PlanVersion >= 1);
        Assert.Equal(ClusterFixture.Pods, info.Pods);
    }
}
