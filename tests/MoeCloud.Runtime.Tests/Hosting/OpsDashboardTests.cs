using System.Net;
using System.Net.Http.Headers;
using System.Text;
using MoeCloud.Contracts.Security;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Runtime.Tests.Hosting;

/// <summary>The Orleans Dashboard on a silo's ops port: behind an admin key when turned on, absent when off (the default).</summary>
[Collection(ClusterCollection.Name)]
public sealed class OpsDashboardTests(ClusterFixture fixture, OpsDashboardTests.DashboardSilo dashboard) : IClassFixture<OpsDashboardTests.DashboardSilo>
{
    private const string AdminKey = "silo-admin-key";

    [Fact]
    public async Task Dashboard_WhenOnAndTheAdminKeyIsGiven_ServesItsPageOnTheOpsPort()
    {
        using var http = new HttpClient { BaseAddress = dashboard.Cluster.Silos[0].OpsAddress, Timeout = TimeSpan.FromSeconds(30) };

        using var request = new HttpRequestMessage(HttpMethod.Get, OpsDashboard.Path + "/");
        request.Headers.Add(ApiKeys.Header, AdminKey);
        using var response = await http.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Orleans", html, StringComparison.OrdinalIgnoreCase);

        // A browser sends the key as HTTP Basic's password after the 401's challenge.
        using var basic = new HttpRequestMessage(HttpMethod.Get, OpsDashboard.Path + "/");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + AdminKey)));
        using var basicResponse = await http.SendAsync(basic);
        Assert.Equal(HttpStatusCode.OK, basicResponse.StatusCode);
    }

    [Fact]
    public async Task Dashboard_WhenOnAndTheKeyIsMissingOrWrong_Is401WithABasicChallenge()
    {
        using var http = new HttpClient { BaseAddress = dashboard.Cluster.Silos[0].OpsAddress, Timeout = TimeSpan.FromSeconds(30) };

        using var missing = await http.GetAsync(OpsDashboard.Path + "/");
        using var wrong = new HttpRequestMessage(HttpMethod.Get, OpsDashboard.Path + "/");
        wrong.Headers.Add(ApiKeys.Header, "not-the-key");
        using var wrongResponse = await http.SendAsync(wrong);

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Basic", Assert.Single(missing.Headers.WwwAuthenticate).Scheme);
        Assert.DoesNotContain("<html", await missing.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);
        // The ops endpoints stay open to the kubelet's probes and the Prometheus scrape.
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
    }

    [Fact]
    public async Task Dashboard_WhenOff_Is404EvenWithAKey()
    {
        using var http = new HttpClient { BaseAddress = fixture.Cluster.Silos[0].OpsAddress, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, OpsDashboard.Path + "/");
        request.Headers.Add(ApiKeys.Header, AdminKey);

        using var response = await http.SendAsync(request);

        Assert.False(fixture.Cluster.Silos[0].Options.Dashboard);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void Validate_WhenDashboardIsOnWithoutAKeyOrWithABadHash_SaysSo()
    {
        var none = new MoeCloudSiloOptions { Dashboard = true };
        var bad = new MoeCloudSiloOptions { AdminKeySha256 = ["not-a-hash"] };

        var validator = new MoeCloudSiloOptionsValidator();

        Assert.StartsWith("Dashboard needs at least one AdminKeySha256", Assert.Single(validator.Validate(null, none).Failures!), StringComparison.Ordinal);
        Assert.Equal("Each AdminKeySha256 must be the 64-digit hex SHA-256 of a key.", Assert.Single(validator.Validate(null, bad).Failures!));
    }

    /// <summary>One silo (serving no model) with the dashboard on and <see cref="AdminKey"/> as its admin key.</summary>
    public sealed class DashboardSilo : IAsyncLifetime
    {
        public EmbeddedCluster Cluster { get; private set; } = null!;

        public async Task InitializeAsync() =>
            Cluster = await EmbeddedCluster.Start(1, new Dictionary<string, string>(), configure: o =>
            {
                o.Dashboard = true;
                o.AdminKeySha256 = [ApiKeys.Hash(AdminKey)];
            });

        public async Task DisposeAsync() => await Cluster.DisposeAsync();
    }
}
