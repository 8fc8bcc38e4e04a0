using System.Net;
using System.Net.Http.Json;
using k8s.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Gateway.Tests;

/// <summary>Plan publications the cluster cannot carry out: the operator's client sees why, and nothing is lost.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayRolloutFailureTests(GatewayFixture fixture)
{
    [Fact]
    public async Task OperatorClient_WhenANewReplicaCannotLoad_SeesFailedWithTheReason_AndThePlanInEffectKeepsServing()
    {
        using var temp = new TempDirectory();
        var dir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(dir, spec, vocab, new SyntheticModelOptions { Seed = 3 }); // the fixture's weights
        await using var cluster = await EmbeddedCluster.Start(2, new Dictionary<string, string> { [GatewayFixture.Model] = dir });
        await cluster.Publish(PlanDocument.FromAssignment(GatewayFixture.Model, 1, 2, spec.MoeLayers, spec.Experts, (_, _) => [0]));
        var options = GatewayFixture.NewOptions(cluster, dir, profile: null);
        options.Pods.Clear();
        var gateway = GatewayHost.Create(options, cluster.Grains);
        await gateway.StartAsync();
        try
        {
            await gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);

            // Expert 1 of the first MoE layer turns to NaN on disk: pod 0 holds it in memory already, pod 1 cannot load it.
            using (var checkpoint = ModelCheckpoint.Open(dir))
            {
                var (file, info) = checkpoint.Locate(TensorNaming.Expert(spec.Family, spec.ModelLayerOf(0), 1, ExpertProjection.Gate));
                byte[] nan = info.DType == WeightDType.F32 ? BitConverter.GetBytes(float.NaN) : [0xC0, 0x7F];
                using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Write);
                stream.Position = file.DataOffset + info.Begin;
                stream.Write(nan);
            }

            using var http = new HttpClient();
            http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
            var admin = new HttpClusterAdminClient(http, Options.Create(new OperatorOptions { AdminEndpointTemplate = $"http://{{name}}:{options.HttpPort}/" }));
            var deployment = new MoeDeployment { Metadata = new V1ObjectMeta { Name = "127.0.0.1", NamespaceProperty = "default" } };
            var layers = Enumerable.Range(0, spec.MoeLayers).Select(l => new LayerPlacement { Layer = l, Pods = Enumerable.Range(0, spec.Experts).Select(e => l == 0 && e == 1 ? 1 : 0).ToList() }).ToList();
            await admin.PublishPlanAsync(deployment, new PlanPublication(2, 1, 2, layers, 4, 1), CancellationToken.None);

            MigrationProgress? progress = null;
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (DateTime.UtcNow < deadline && progress?.Phase is not (MigrationProgress.Failed or MigrationProgress.Complete))
            {
                await Task.Delay(100);
                progress = await admin.GetProgressAsync(deployment, 2, CancellationToken.None);
            }

            Assert.Equal(MigrationProgress.Failed, progress?.Phase);
            Assert.Contains("NaN or infinite value at element 0", progress!.Message, StringComparison.Ordinal);
            var status = await cluster.Grains.GetGrain<IPlanRegistryGrain>(GatewayFixture.Model).GetStatus();
            Assert.Equal((1, null, 2), (status.ActiveVersion, status.PendingVersion, status.FailedVersion));

            // Plan 1 still serves every request, with the weights pod 0 loaded before the file went bad.
            using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
            for (var i = 0; i < 3; i++)
            {
                var output = await fixture.ForwardMatchingReference(client, 4, 500 + i);
                Assert.Equal(1, output.PlanVersion);
            }
        }
        finally
        {
            await gateway.StopAsync();
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task PutPlan_WhenItsShapeIsNotTheModels_IsRejectedWithBothShapes()
    {
        var spec = fixture.Reference.Model.Spec;
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var layers = Enumerable.Range(0, spec.MoeLayers + 1).Select(l => new { layer = l, pods = Enumerable.Repeat(0, spec.Experts).ToArray() }).ToArray();

        var response = await http.PutAsJsonAsync("admin/v1/plans/900", new { version = 900, previousVersion = 0, pods = 3, layers });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"has {spec.MoeLayers + 1} layers of {spec.Experts} experts", body, StringComparison.Ordinal);
        Assert.Contains($"has layers 0..{spec.MoeLayers - 1} of {spec.Experts} experts", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("admin/v1/plans/900")).StatusCode);
    }
}
