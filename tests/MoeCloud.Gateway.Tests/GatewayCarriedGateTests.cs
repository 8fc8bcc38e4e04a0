using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// Gate once, end to end: the speculative gateway computes each request's first-layer gate to choose the homes, and
/// carries each home's share of it, so the pods compute only the later layers' gates; results equal the reference.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayCarriedGateTests(GatewayFixture fixture)
{
    private int HiddenSize => fixture.Reference.Model.Spec.Hidden;

    private int Layers => fixture.Reference.Model.Spec.MoeLayers;

    [Fact]
    public async Task Forward_ThroughTheSpeculativeGateway_EachHomeRoutesTheFirstLayerWithTheCarriedGateAndComputesOnlyTheOthers()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        const int tokens = 24;
        var hidden = GatewayFixture.Hidden(tokens, HiddenSize, 61);
        var (computedBefore, carriedBefore) = Gates();

        var output = await client.ForwardAsync(GatewayFixture.Model, hidden, tokens, HiddenSize, 0, Layers - 1);

        var (computedAfter, carriedAfter) = Gates();
        var homes = output.HomePods.Distinct().Count();
        Assert.Equal(homes, carriedAfter - carriedBefore);
        Assert.Equal(homes * (Layers - 1), computedAfter - computedBefore);
        Assert.True(GatewayFixture.MaxRelativeError(fixture.Reference.ForwardStack(0, Layers - 1, hidden, tokens), output.Hidden) <= 1e-4);
    }

    [Fact]
    public async Task ForwardLayer_ThroughTheSpeculativeGateway_NoPodComputesTheGate()
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        const int tokens = 10, layer = 1;
        var x = GatewayFixture.Hidden(tokens, HiddenSize, 62);
        var (computedBefore, carriedBefore) = Gates();

        var output = await client.ForwardLayerAsync(GatewayFixture.Model, x, tokens, HiddenSize, layer);

        var (computedAfter, carriedAfter) = Gates();
        Assert.Equal(0, computedAfter - computedBefore);
        Assert.Equal(output.HomePods.Distinct().Count(), carriedAfter - carriedBefore);
        Assert.True(GatewayFixture.MaxRelativeError(fixture.Reference.ForwardLayer(layer, x, tokens), output.Hidden) <= 1e-4);
    }

    /// <summary>Layers the pods routed with a computed gate and with a carried one, over every pod.</summary>
    private (double Computed, double Carried) Gates()
    {
        var metrics = fixture.Cluster.Silos.Select(s => s.App.Services.GetRequiredService<SiloMetrics>()).ToArray();
        return (metrics.Sum(m => m.GateRoutings.WithLabels(GatewayFixture.Model, "computed").Value), metrics.Sum(m => m.GateRoutings.WithLabels(GatewayFixture.Model, "carried").Value));
    }
}
