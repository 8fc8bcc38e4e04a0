using System.Net;
using System.Text.RegularExpressions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Contracts.Security;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>
/// <c>moectl up --dashboard</c> and <c>moectl silo --dashboard</c> (the Orleans Dashboard on the silos' ops ports behind
/// the admin key), and how <c>up</c> reports its plan rollout when standard error is not a terminal.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed partial class DashboardAndRolloutTests : IDisposable
{
    private readonly TempDirectory _home = new();
    private readonly TempDirectory _temp = new();

    public DashboardAndRolloutTests() => Environment.SetEnvironmentVariable("MOECLOUD_HOME", _home.Path);

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("MOECLOUD_HOME", null);
        _home.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public async Task Up_WhenDashboard_PrintsWhereItIsAndServesItWithTheAdminKeyOnly()
    {
        using var moectl = MoectlProcess.Start(_home.Path, _temp.Path, "up", "--dashboard", "--preset", "tiny", "--silos", "2", "--solver", "eplb", "--warmup", "0");
        var started = moectl.Started();
        try
        {
            Assert.True(await moectl.WaitFor("Ctrl-C to stop.", TimeSpan.FromMinutes(3)), moectl.Error);
            started = moectl.Started();
            var url = DashboardLine().Match(moectl.Out) is { Success: true } m ? new Uri(m.Groups[1].Value) : throw new Xunit.Sdk.XunitException($"no dashboard line in: {moectl.Out}");
            var key = AdminKeyLine().Match(moectl.Out).Groups[1].Value;
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Add(ApiKeys.Header, key);
            using var opened = await http.SendAsync(request);
            using var refused = await http.GetAsync(url);

            Assert.Equal(OpsDashboard.Path + "/", url.AbsolutePath);
            Assert.Equal(HttpStatusCode.OK, opened.StatusCode);
            Assert.Contains("<html", await opened.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        finally
        {
            await moectl.Signal("INT");
            await moectl.WaitForExit(TimeSpan.FromSeconds(60));
            await moectl.KillAll(started);
        }
    }

    [Fact]
    public async Task LocalClusters_WhenEmbeddedWithoutDashboardKeys_ServeNoDashboard_AndWithThemServeItBehindTheKey()
    {
        var hash = ApiKeys.Hash("local-admin");
        await using (var off = await LocalClusters.Start("embedded", 1, new Dictionary<string, string>(), null, CancellationToken.None, quiet: true))
        {
            Assert.Equal(HttpStatusCode.NotFound, await GetDashboard(off, "local-admin"));
        }

        await using var on = await LocalClusters.Start("embedded", 1, new Dictionary<string, string>(), null, CancellationToken.None, quiet: true, dashboardKeySha256: [hash]);
        Assert.Equal(HttpStatusCode.OK, await GetDashboard(on, "local-admin"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetDashboard(on, null));
    }

    [Fact]
    public void SiloLauncher_WhenDashboardKeysAreGiven_PassesTheFlagAndTheHashesToTheSiloProcesses()
    {
        var hashes = new[] { ApiKeys.Hash("a"), ApiKeys.Hash("b") };
        var models = new Dictionary<string, string> { ["demo"] = "/models/demo" };

        var on = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, null, hashes).Arguments(1);
        var off = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, null).Arguments(1);

        Assert.Contains("--dashboard", on);
        Assert.Equal(string.Join(',', hashes), on[on.ToList().IndexOf("--admin-key-sha256") + 1]);
        Assert.DoesNotContain("--dashboard", off);
        Assert.DoesNotContain("--admin-key-sha256", off);
    }

    [Theory]
    [InlineData("--dashboard", "", "option '--dashboard' needs --admin-key-sha256")]
    [InlineData("--dashboard", "not-a-hash", "got 'not-a-hash'")]
    [InlineData("", "valid", "option '--admin-key-sha256' needs --dashboard")]
    public async Task Silo_WhenTheDashboardHasNoValidKeyOrAKeyHasNoDashboard_ExitsTwoSayingWhy(string flag, string hash, string expected)
    {
        var args = new List<string> { "silo", "--pod", "0" };
        if (flag.Length > 0)
        {
            args.Add(flag);
        }

        if (hash.Length > 0)
        {
            args.AddRange(["--admin-key-sha256", hash == "valid" ? ApiKeys.Hash("k") : hash]);
        }

        var (code, _, error) = await MoectlRunner.Run([.. args]);

        Assert.Equal(2, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_WhenStandardErrorIsNotATerminal_PrintsTheRolloutAsPlainLines()
    {
        var (code, _, error) = await MoectlRunner.Run("up", "--smoke", "--preset", "tiny", "--silos", "2", "--solver", "eplb", "--warmup", "0");

        Assert.True(code == 0, error);
        var lines = error.Split('\n', StringSplitOptions.TrimEntries);
        var rollout = Array.FindIndex(lines, l => l.StartsWith("rolling out plan 1 (eplb): warming ", StringComparison.Ordinal));
        var active = Array.IndexOf(lines, "plan 1 (eplb) active on every pod; starting the gateway");
        Assert.True(rollout >= 0 && active > rollout, error);
        Assert.Contains("starting 2 silos (embedded in this process)", error, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', error); // no cursor movement or colour
        Assert.DoesNotContain("replicas warmed (", error, StringComparison.Ordinal); // no line per poll
    }

    private static async Task<HttpStatusCode> GetDashboard(ILocalCluster cluster, string? key)
    {
        using var http = new HttpClient { BaseAddress = cluster.Endpoints[0].Ops, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, OpsDashboard.Path + "/");
        if (key is not null)
        {
            request.Headers.Add(ApiKeys.Header, key);
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    [GeneratedRegex(@"^dashboard: (\S+)", RegexOptions.Multiline)]
    private static partial Regex DashboardLine();

    [GeneratedRegex(@"x-api-key: ([^']+)'")]
    private static partial Regex AdminKeyLine();
}
