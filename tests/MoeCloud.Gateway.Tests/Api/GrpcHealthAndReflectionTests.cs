using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests.Api;

/// <summary>
/// The standard gRPC health service and server reflection on the gateway's gRPC port, called by the generated clients
/// of <c>grpc.health.v1</c> and <c>grpc.reflection.v1alpha</c> (what grpc_health_probe, Kubernetes gRPC probes and
/// grpcurl use), without an API key.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class GrpcHealthAndReflectionTests(GatewayFixture fixture)
{
    [Fact]
    public async Task HealthCheck_OnAReadyGateway_IsServingForTheServerAndMoeService_AndNotFoundForAnUnknownService()
    {
        using var channel = GrpcChannel.ForAddress(fixture.Grpc);
        var health = new Health.HealthClient(channel);

        var server = await health.CheckAsync(new HealthCheckRequest { Service = "" });
        var moe = await health.CheckAsync(new HealthCheckRequest { Service = "moecloud.v1.MoeService" });
        var unknown = await Assert.ThrowsAsync<RpcException>(async () => await health.CheckAsync(new HealthCheckRequest { Service = "moecloud.v1.Nothing" }));

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, server.Status);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, moe.Status);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task HealthCheck_WhenNoPodIsAvailable_IsNotServingAsReadyzSays_AndServingAgainWhenPodsReturn()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        var directory = running.App.Services.GetRequiredService<PodDirectory>();
        var known = directory.Pods.ToArray();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{options.GrpcPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") };
        var health = new Health.HealthClient(channel);

        directory.SetPods([]);
        var down = await health.CheckAsync(new HealthCheckRequest { Service = "moecloud.v1.MoeService" });
        var readyz = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        directory.SetPods(known);
        var up = await health.CheckAsync(new HealthCheckRequest { Service = "moecloud.v1.MoeService" });

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, down.Status);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, readyz.StatusCode);
        Assert.Equal("no pod available", await readyz.Content.ReadAsStringAsync());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, up.Status);
    }

    [Fact]
    public async Task Reflection_ListsMoeServiceAndHealth_AndDescribesMoeServicesMethods()
    {
        using var channel = GrpcChannel.ForAddress(fixture.Grpc);
        var reflection = new ServerReflection.ServerReflectionClient(channel);
        using var call = reflection.ServerReflectionInfo();

        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var services = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToArray();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { FileContainingSymbol = "moecloud.v1.MoeService" });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var files = call.ResponseStream.Current.FileDescriptorResponse.FileDescriptorProto.Select(b => FileDescriptorProto.Parser.ParseFrom(b)).ToArray();
        await call.RequestStream.CompleteAsync();

        Assert.Contains("moecloud.v1.MoeService", services);
        Assert.Contains("grpc.health.v1.Health", services);
        var moe = files.Single(f => f.Package == "moecloud.v1").Service.Single(s => s.Name == "MoeService");
        Assert.Equal(["Forward", "ForwardStream", "ForwardLayer", "GetModel", "Echo"], moe.Method.Select(m => m.Name).ToArray());
    }
}
