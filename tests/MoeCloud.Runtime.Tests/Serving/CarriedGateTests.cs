using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// Gate once: a step that carries the gateway's gate of its first layer (<c>gate_routing</c>) is routed with it, and the
/// runner computes only the other layers' gates; a malformed carried gate is refused like malformed forced routing.
/// </summary>
public sealed class CarriedGateTests(GatingKindsFixture fixture) : IClassFixture<GatingKindsFixture>
{
    private const int Tokens = 7;

    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public async Task Forward_WhenTheFirstLayersGateIsCarried_ComputesOnlyTheOtherGatesAndEqualsTheReference(string model)
    {
        var reference = fixture.References[model];
        var spec = reference.Model.Spec;
        var hidden = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 500);
        RoutingAssignment? first = null;
        var expected = reference.ForwardStack(0, spec.MoeLayers - 1, hidden, Tokens, onRouting: (l, routing) => first ??= l == 0 ? routing : null);
        var plain = RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, Tokens, spec.Hidden);
        var carried = RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, Tokens, spec.Hidden);
        carried.GateRouting = TensorCodec.WriteRouting(first!.ExpertIds, first.Weights, spec.TopK);

        var (computedPlain, carriedPlain) = Gates(model);
        var withoutGate = await fixture.Runner(1).ForwardAsync(plain);
        var (computedBetween, carriedBetween) = Gates(model);
        var withGate = await fixture.Runner(1).ForwardAsync(carried);
        var (computedAfter, carriedAfter) = Gates(model);

        Assert.Equal(spec.MoeLayers, computedBetween - computedPlain);
        Assert.Equal(0, carriedBetween - carriedPlain);
        Assert.Equal(spec.MoeLayers - 1, computedAfter - computedBetween);
        Assert.Equal(1, carriedAfter - carriedBetween);
        foreach (var response in new[] { withoutGate, withGate })
        {
            var error = RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values);
            Assert.True(error <= 1e-4, $"{model}: max relative error {error}");
        }
    }

    [Fact]
    public async Task ForwardLayer_WhenTheGateIsCarried_ComputesNoGateAndEqualsTheReferenceLayer()
    {
        const string model = "softmax-shared";
        const int layer = 1;
        var reference = fixture.References[model];
        var spec = reference.Model.Spec;
        var x = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 501);
        var expected = reference.ForwardLayer(layer, x, Tokens, forced: null, out var routing);
        var request = new ForwardLayerRequest { Model = model, Layer = layer, Hidden = TensorCodec.WriteMatrix(x, Tokens, spec.Hidden), GateRouting = TensorCodec.WriteRouting(routing.ExpertIds, routing.Weights, spec.TopK) };

        var (computedBefore, carriedBefore) = Gates(model);
        var response = await fixture.Runner(2).ForwardLayerAsync(request);
        var (computedAfter, carriedAfter) = Gates(model);

        Assert.Equal(0, computedAfter - computedBefore);
        Assert.Equal(1, carriedAfter - carriedBefore);
        var error = RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values);
        Assert.True(error <= 1e-4, $"max relative error {error}");
    }

    public static TheoryData<string, string> Malformed() => new()
    {
        { "short", "must hold [tokens, topK]" },
        { "expert-out-of-range", "names expert" },
        { "negative-expert", "names expert" },
        { "nan-weight", "not a finite number" },
        { "infinite-weight", "not a finite number" },
        { "with-forced-routing", "not both" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task Forward_WhenTheCarriedGateIsMalformed_IsRefusedWithInvalidArgumentNamingTheProblem(string bad, string message)
    {
        const string model = "softmax-shared";
        var spec = fixture.References[model].Model.Spec;
        var k = spec.TopK;
        var ids = Enumerable.Range(0, Tokens * k).Select(i => i % spec.Experts).ToArray();
        var weights = Enumerable.Repeat(1f / k, Tokens * k).ToArray();
        var request = RequestFactory.Forward(model, 0, spec.MoeLayers - 1, RequestFactory.Hidden(Tokens, spec.Hidden, seed: 502), Tokens, spec.Hidden);
        switch (bad)
        {
            case "short":
                ids = ids[..^1];
                weights = weights[..^1];
                break;
            case "expert-out-of-range":
                ids[3] = spec.Experts;
                break;
            case "negative-expert":
                ids[0] = -1;
                break;
            case "nan-weight":
                weights[5] = float.NaN;
                break;
            case "infinite-weight":
                weights[5] = float.PositiveInfinity;
                break;
            case "with-forced-routing":
                var layers = spec.MoeLayers;
                request.Routing = TensorCodec.WriteRouting(new int[Tokens * layers * k], Enumerable.Repeat(1f / k, Tokens * layers * k).ToArray(), k);
                break;
        }

        request.GateRouting = TensorCodec.WriteRouting(ids, weights, k);

        var e = await Assert.ThrowsAsync<RpcException>(async () => await fixture.Runner(0).ForwardAsync(request));

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Contains(message, e.Status.Detail, StringComparison.Ordinal);
    }

    /// <summary>Layers routed by a computed gate and by a carried one, over every silo.</summary>
    private (double Computed, double Carried) Gates(string model)
    {
        var metrics = fixture.Cluster.Silos.Select(s => s.App.Services.GetRequiredService<SiloMetrics>()).ToArray();
        return (metrics.Sum(m => m.GateRoutings.WithLabels(model, "computed").Value), metrics.Sum(m => m.GateRoutings.WithLabels(model, "carried").Value));
    }
}
