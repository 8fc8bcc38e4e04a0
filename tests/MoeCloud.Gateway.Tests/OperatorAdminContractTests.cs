using k8s.Models;
using Microsoft.Extensions.Options;
using MoeCloud.Client;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Gateway.Tests;

/// <summary>The operator's real admin client against the real gateway: the contract of operators/README.md end to end.</summary>
[Collection(GatewayCollection.Name)]
public sealed class OperatorAdminContractTests(GatewayFixture fixture)
{
    [Fact]
    public async Task OperatorClient_PublishesAPlan_FollowsItToComplete_AndReadsTheLiveProfile()
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var options = Options.Create(new OperatorOptions { AdminEndpointTemplate = $"http://{{name}}:{fixture.Options.HttpPort}/" });
        var admin = new HttpClusterAdminClient(http, options);
        var deployment = new MoeDeployment { Metadata = new V1ObjectMeta { Name = "127.0.0.1", NamespaceProperty = "default" } };
        var spec = fixture.Reference.Model.Spec;
        using (var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey }))
        {
            await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(8, spec.Hidden, 5), 8, spec.Hidden, 0, spec.MoeLayers - 1);
        }

        var current = (await fixture.Cluster.Grains.GetGrain<MoeCloud.Abstractions.IPlanRegistryGrain>(GatewayFixture.Model).GetStatus()).ActiveVersion;
        var version = current + 10;
        var layers = Enumerable.Range(0, spec.MoeLayers).Select(l => new LayerPlacement { Layer = l, Pods = Enumerable.Range(0, spec.Experts).Select(e => (e + l + 1) % 3).ToList() }).ToList();

        Assert.Null(await admin.GetProgressAsync(deployment, version, CancellationToken.None));
        await admin.PublishPlanAsync(deployment, new PlanPublication(version, current, 3, layers, 4, 1), CancellationToken.None);
        MigrationProgress? progress = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && progress?.Phase != MigrationProgress.Complete)
        {
            progress = await admin.GetProgressAsync(deployment, version, CancellationToken.None);
            await Task.Delay(100);
        }

        Assert.Equal(MigrationProgress.Complete, progress?.Phase);
        await admin.PublishPlanAsync(deployment, new PlanPublication(version, current, 3, layers, 4, 1), CancellationToken.None); // idempotent
        LiveProfile? profile = null;
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && (profile is null || profile.Tokens < 8))
        {
            profile = await admin.GetLiveProfileAsync(deployment, CancellationToken.None);
            await Task.Delay(200);
        }

        Assert.NotNull(profile);
        Assert.Equal(spec.MoeLayers, profile.Load.Length);
        Assert.True(profile.Tokens >= 8);

        // Co-activation for the operator's ilp/incremental path: transitions and sampled routings, decoded as the
        // operator does.
        Assert.Equal(spec.TopK, profile.TopK);
        var decoded = MoeCloud.Operator.Placement.LoadProfile.FromLive(profile.Load, profile.TopK, profile.Transitions, profile.Sample?.ExpertIds, profile.Sample?.SeqIds);
        Assert.True(decoded.HasCoActivation);
        Assert.Equal(profile.Load.Sum(l => l.Sum()), decoded.Observed!.Dispatches);
        Assert.Equal((spec.MoeLayers - 1) * spec.Experts * spec.Experts, decoded.Observed.Transitions!.Length);
    }
}
