using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Client;
using MoeCloud.Contracts.Admin;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Gateway.Tests;

/// <summary>Plan publications the cluster cannot carry out: the admin contract says why, and nothing is lost.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayRolloutFailureTests(GatewayFixture fixture)
{
    [Fact]
    public async Task PutPlan_WhenANewReplicaCannotLoad_ProgressIsFailedWithTheReason_AndThePlanInEffectKeepsServing()
    {
        using var temp = new TempDirectory();
        var dir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(dir, spec, vocab, new SyntheticModelOptions { Seed = 3 }); // the fixture's weights
        await using var cluster = await EmbeddedCluster.Start(2, new Dictionary<string, string> { [GatewayFixture.Model] = dir });
        await cluster.Publish(WirePlan.FromAssignment(GatewayFixture.Model, 1, 2, spec.MoeLayers, spec.Experts, (_, _) => [0]));
        var options = GatewayFixture.NewOptions(cluster, dir, profile: null);
        options.Pods.Clear();
        await using var running = await GatewayFixture.StartGateway(options, cluster.Grains);
        var gateway = running.App;
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

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}/") };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        int[][][] assignment = [.. Enumerable.Range(0, spec.MoeLayers).Select(l => Enumerable.Range(0, spec.Experts).Select(e => new[] { l == 0 && e == 1 ? 1 : 0 }).ToArray())];
        (await http.PutAsJsonAsync("admin/v1/plans/2", new PlanPublication(2, 1, 2, assignment, 4, 1), AdminJson.Options)).EnsureSuccessStatusCode();

        MigrationProgress? progress = null;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && progress?.Phase is not (MigrationProgress.Failed or MigrationProgress.Complete))
        {
            await Task.Delay(100);
            progress = await http.GetFromJsonAsync<MigrationProgress>("admin/v1/plans/2", AdminJson.Options);
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

    [Fact]
    public async Task PutPlan_WhenItsShapeIsNotTheModels_IsRejectedWithBothShapes()
    {
        var spec = fixture.Reference.Model.Spec;
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        int[][][] assignment = [.. Enumerable.Range(0, spec.MoeLayers + 1).Select(_ => Enumerable.Repeat(new[] { 0 }, spec.Experts).ToArray())];

        var response = await http.PutAsJsonAsync("admin/v1/plans/900", new PlanPublication(900, 0, 3, assignment, 8, 30), AdminJson.Options);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains($"has {spec.MoeLayers + 1} layers of {spec.Experts} experts", body, StringComparison.Ordinal);
        Assert.Contains($"has {spec.MoeLayers} MoE layers of {spec.Experts} experts", body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("admin/v1/plans/900")).StatusCode);
    }
}
