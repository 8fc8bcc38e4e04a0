using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using MoeCloud.Client;
using MoeCloud.Contracts.Admin;
using MoeCloud.Gateway.Api;

namespace MoeCloud.Gateway.Tests.Observability;

/// <summary>
/// The admin page (<c>GET /admin/</c>) on the fixture's cluster: served as one self-contained HTML file, and rendered by
/// headless Chromium with the live plan version, remote fraction, heatmap and hottest experts; its screenshot is kept
/// as artifacts/test-logs/admin-page.png.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed partial class AdminPageTests(GatewayFixture fixture)
{
    private static readonly TimeSpan BrowserWithin = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task AdminPage_WhenFetched_IsSelfContainedHtmlWithAStrictPolicy()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };

        using var response = await http.GetAsync(AdminPage.Path);
        var html = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.OK, html);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        // Nothing from outside: no external script, style, image or font, and requests only to this origin.
        Assert.DoesNotMatch(@"(src|href)\s*=\s*[""']?(https?:)?//", html);
        Assert.DoesNotContain("@import", html, StringComparison.Ordinal);
        var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", policy, StringComparison.Ordinal);
        Assert.Matches("script-src 'sha256-[A-Za-z0-9+/=]{44}'", policy);
        // The page holds no data; the admin API it reads still needs the key.
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("admin/v1/cluster")).StatusCode);
    }

    [ChromiumFact]
    public async Task AdminPage_WhenRenderedInHeadlessChromiumUnderLoad_ShowsThePlanVersionRemoteFractionHeatmapAndScreenshot()
    {
        var spec = fixture.Reference.Model.Spec;
        await Load(spec.Hidden);
        using var admin = new HttpClient { BaseAddress = fixture.Http };
        admin.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.AdminKey);
        var profile = await WaitForTelemetry(admin);
        var cluster = await admin.GetFromJsonAsync<JsonElement>("admin/v1/cluster");
        var planVersion = cluster.GetProperty("models")[0].GetProperty("planVersion").GetInt32();
        var pods = (await admin.GetFromJsonAsync<PlanPublication>("admin/v1/plans/active", AdminJson.Options))!.Pods;
        var page = new Uri(fixture.Http, AdminPage.Path + "#key=" + GatewayFixture.AdminKey);

        var dom = await HeadlessChromium.DumpDom(page, 6000, BrowserWithin);

        Assert.True(Text(dom, "status").StartsWith("updated", StringComparison.Ordinal), "the page did not update: " + Text(dom, "status"));
        Assert.Equal(planVersion.ToString(CultureInfo.InvariantCulture), Text(dom, "plan-version"));
        Assert.Equal(GatewayFixture.Model, Text(dom, "model"));
        var shown = PercentPattern().Match(Text(dom, "remote-fraction"));
        Assert.True(shown.Success, "remote fraction: " + Text(dom, "remote-fraction"));
        // Traffic stopped before the page was read, so the lifetime fraction it shows is the one the API gave (to its 0.1 %).
        Assert.InRange(double.Parse(shown.Groups[1].Value, CultureInfo.InvariantCulture), (profile.RemoteFraction * 100) - 0.051, (profile.RemoteFraction * 100) + 0.051);
        Assert.Equal(spec.MoeLayers * pods, CellPattern().Matches(dom).Count);
        Assert.Contains("<polyline", dom, StringComparison.Ordinal);
        Assert.DoesNotContain("waiting for telemetry", dom, StringComparison.Ordinal);
        Assert.Matches(@"<form id=""key-form""[^>]*\bhidden", dom); // the key from the fragment was taken: no prompt

        var file = Path.Combine(ArtifactDirectory(), "admin-page.png");
        File.Delete(file);
        await HeadlessChromium.Screenshot(page, file, 6000, BrowserWithin);
        var png = await File.ReadAllBytesAsync(file);
        Assert.True(png.Length > 1000, $"{file} holds {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
    }

    // Some full-stack steps through the gateway, so that telemetry and predictions have counts.
    private async Task Load(int hidden)
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        for (var round = 0; round < 8; round++)
        {
            await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(8, hidden, 500 + round), 8, hidden, 0, fixture.Reference.Model.Spec.MoeLayers - 1);
        }
    }

    // The profile once the telemetry has flushed the load above (bounded wait), read twice in a row unchanged: settled.
    private static async Task<LiveProfile> WaitForTelemetry(HttpClient admin)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        LiveProfile? last = null;
        while (DateTime.UtcNow < deadline)
        {
            using var response = await admin.GetAsync("admin/v1/profile");
            var profile = response.StatusCode == HttpStatusCode.NotFound ? null : await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<LiveProfile>(AdminJson.Options);
            if (profile is { Tokens: >= 64 } && last is not null && last.LocalDispatches == profile.LocalDispatches && last.RemoteDispatches == profile.RemoteDispatches)
            {
                return profile;
            }

            last = profile;
            await Task.Delay(1500);
        }

        throw new TimeoutException("the telemetry did not settle within 30 s");
    }

    private static string Text(string dom, string id)
    {
        var match = Regex.Match(dom, $"id=\"{Regex.Escape(id)}\"[^>]*>([^<]*)<");
        return match.Success ? WebUtility.HtmlDecode(match.Groups[1].Value) : $"(no element #{id})";
    }

    private static string ArtifactDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeCloud.sln")))
            {
                return Directory.CreateDirectory(Path.Combine(dir.FullName, "artifacts", "test-logs")).FullName;
            }
        }

        throw new InvalidOperationException("MoeCloud.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^([0-9]+\.[0-9]) %$")]
    private static partial Regex PercentPattern();

    [GeneratedRegex(@"<td class=""cell""")]
    private static partial Regex CellPattern();
}
