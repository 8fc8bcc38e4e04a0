using System.Net;
using System.Net.Http.Json;
using MoeCloud.Client;
using MoeCloud.Contracts.Admin;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// The admin contract (MoeCloud.Contracts.Admin, which the operator's client sends and reads) round-tripped through the
/// real gateway in front of a real cluster: a publication goes in, its progress and the plan in effect come back.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class AdminContractTests(GatewayFixture fixture)
{
    [Fact]
    public async Task PutPlan_FollowedToComplete_IsThePlanInEffect_AndTheProfileDecodesWithCoActivation()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var spec = fixture.Reference.Model.Spec;
        using (var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey }))
        {
            await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(8, spec.Hidden, 5), 8, spec.Hidden, 0, spec.MoeLayers - 1);
        }

        var current = (await http.GetFromJsonAsync<PlanPublication>("admin/v1/plans/active", AdminJson.Options))!;
        var version = current.Version + 10;
        int[][][] assignment = [.. Enumerable.Range(0, spec.MoeLayers).Select(l => Enumerable.Range(0, spec.Experts).Select(e => e == 0 ? new[] { (l + 1) % 3, (l + 2) % 3 } : [(e + l + 1) % 3]).ToArray())];
        var publication = new PlanPublication(version, current.Version, 3, assignment, BatchSize: 4, DrainSeconds: 1);

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"admin/v1/plans/{version}")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PutAsJsonAsync($"admin/v1/plans/{version}", publication, AdminJson.Options)).StatusCode);
        MigrationProgress? progress = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && progress?.Phase != MigrationProgress.Complete)
        {
            progress = await http.GetFromJsonAsync<MigrationProgress>($"admin/v1/plans/{version}", AdminJson.Options);
            await Task.Delay(100);
        }

        Assert.Equal(MigrationProgress.Complete, progress?.Phase);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PutAsJsonAsync($"admin/v1/plans/{version}", publication, AdminJson.Options)).StatusCode); // idempotent
        var active = (await http.GetFromJsonAsync<PlanPublication>("admin/v1/plans/active", AdminJson.Options))!;
        Assert.Equal((version, 3, 4, 1), (active.Version, active.Pods, active.BatchSize, active.DrainSeconds));
        Assert.Equal(assignment, active.Assignment);

        LiveProfile? profile = null;
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && (profile is null || profile.Tokens < 8))
        {
            using var response = await http.GetAsync("admin/v1/profile"); // 404 until the first telemetry delta arrives
            profile = response.StatusCode == HttpStatusCode.NotFound ? null : await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<LiveProfile>(AdminJson.Options);
            await Task.Delay(200);
        }

        Assert.NotNull(profile);
        Assert.Equal((GatewayFixture.Model, spec.MoeLayers, spec.Experts, spec.TopK), (profile.Model, profile.Layers, profile.Experts, profile.TopK));
        Assert.True(profile.Tokens >= 8);
        var counts = profile.Decode();
        Assert.Equal(profile.Load.Sum(l => l.Sum()), counts.Load.Sum());
        Assert.Equal((spec.MoeLayers - 1) * spec.Experts * spec.Experts, counts.Transitions!.Length);
        Assert.Equal(counts.SeqIds.Length * spec.MoeLayers * spec.TopK, counts.SampleIds.Length);
    }

    [Fact]
    public async Task PutPlan_WhenTheBodyIsMalformed_Is400NamingTheField_AndNothingIsPublished()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var spec = fixture.Reference.Model.Spec;
        int[][][] good = [.. Enumerable.Range(0, spec.MoeLayers).Select(_ => Enumerable.Repeat(new[] { 0 }, spec.Experts).ToArray())];
        int[][][] twoOnOnePod = [.. good.Select((l, i) => i == 0 ? [.. l.Select((e, j) => j == 0 ? new[] { 1, 1 } : e)] : l)];

        var cases = new (object Body, string Says)[]
        {
            (new PlanPublication(901, 0, 3, good, 0, 30), "'batchSize' must be in [1, 4096]"),
            (new PlanPublication(901, 0, 3, good, 8, -1), "'drainSeconds' must be in [0, 3600]"),
            (new PlanPublication(901, 0, 3, null, 8, 30), "'assignment' must be [layers][experts][pods]"),
            (new PlanPublication(901, 0, 3, twoOnOnePod, 8, 30), "two replicas on the same pod"),
            (new PlanPublication(902, 0, 3, good, 8, 30), "the body is plan 902"),
            ("{\"version\": \"nine\"}", "is not a plan publication"),
        };
        foreach (var (body, says) in cases)
        {
            using HttpContent content = body is string json ? new StringContent(json, System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body, options: AdminJson.Options);
            var response = await http.PutAsync("admin/v1/plans/901", content);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains(says, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("admin/v1/plans/901")).StatusCode);
    }
}
