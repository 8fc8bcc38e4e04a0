using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Client;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Serving;

namespace MoeCloud.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class GatewayMembershipTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Membership_FindsEveryPodAtItsAdvertisedAddressWithItsExpertBackend_AndDropsAPodThatLeaves()
    {
        var spec = fixture.Reference.Model.Spec;
        await using var cluster = await EmbeddedCluster.Start(3, new Dictionary<string, string> { [GatewayFixture.Model] = fixture.ModelDirectory });
        // Every expert on every pod: the cluster keeps serving every expert when pod 2 leaves.
        await cluster.Publish(WirePlan.FromAssignment(GatewayFixture.Model, 1, 3, spec.MoeLayers, spec.Experts, (_, _) => [0, 1, 2]));
        var options = GatewayFixture.NewOptions(cluster, fixture.ModelDirectory, profile: null);
        options.Pods.Clear();
        Assert.Equal(PodDiscovery.Membership, options.Discovery);
        await using var running = await GatewayFixture.StartGateway(options, cluster.Grains);
        var gateway = running.App;
        var watcher = gateway.Services.GetRequiredService<PlanWatcher>();
        var directory = gateway.Services.GetRequiredService<PodDirectory>();
        await watcher.Refresh(CancellationToken.None);

        var found = directory.Pods.OrderBy(p => p.Pod).Select(p => (p.Pod, new Uri(p.Runner), new Uri(p.Ops))).ToArray();
        Assert.Equal(cluster.Endpoints.Select(e => (e.Pod, e.Runner, e.Ops)).ToArray(), found);

        // Each pod says which expert backend it runs; the admin API shows it per pod.
        var backends = cluster.Silos.Select(s => s.App.Services.GetRequiredService<ModelCatalog>().ExpertBackend).ToArray();
        Assert.Equal(backends, directory.Pods.OrderBy(p => p.Pod).Select(p => p.ExpertBackend).ToArray());
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{options.HttpPort}") })
        {
            http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
            var admin = await http.GetFromJsonAsync<JsonElement>("/admin/v1/cluster");
            Assert.Equal(backends, admin.GetProperty("pods").EnumerateArray().Select(p => p.GetProperty("expertBackend").GetString()).ToArray());
        }

        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        var homes = new HashSet<int>();
        for (var i = 0; i < 6; i++)
        {
            var output = await fixture.ForwardMatchingReference(client, 6, 300 + i);
            homes.UnionWith(output.HomePods);
        }

        Assert.Equal([0, 1, 2], homes.Order());

        await cluster.Silos[2].App.StopAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (directory.Pods.Any(p => p.Pod == 2) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(250);
            await watcher.Refresh(CancellationToken.None);
        }

        Assert.Equal([0, 1], directory.Pods.Select(p => p.Pod).Order());
        Assert.DoesNotContain(2, directory.Available());
        for (var i = 0; i < 6; i++)
        {
            var output = await fixture.ForwardMatchingReference(client, 6, 400 + i);
            Assert.DoesNotContain(2, output.HomePods);
        }
    }
}
