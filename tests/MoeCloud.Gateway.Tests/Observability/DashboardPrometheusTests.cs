using System.Text.Json;
using Grpc.Core;
using MoeCloud.Client;

namespace MoeCloud.Gateway.Tests.Observability;

/// <summary>
/// The Grafana dashboard (infra/dashboards/moecloud.json) and the alert rules (infra/alerts/moecloud.rules.yaml)
/// against a real Prometheus scraping the fixture's 3 silos and gateway under a little load: every panel query and every
/// alert's signal returns series, every rule evaluates without error, and promtool accepts the rules and the scraped
/// metrics.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class DashboardPrometheusTests(GatewayFixture fixture)
{
    /// <summary>How Grafana's variables are replaced before a query goes to Prometheus.</summary>
    private static readonly Dictionary<string, string> Variables = new(StringComparer.Ordinal)
    {
        ["$__rate_interval"] = "1m",
        ["$model"] = ".*",
    };

    private static readonly TimeSpan Within = TimeSpan.FromSeconds(90);

    [Fact]
    public void Dashboard_WhenRead_HasARowForEachViewAndOnlyMoeCloudMetrics()
    {
        var (rows, queries) = ReadDashboard();

        Assert.Equal(
            ["Requests and failures", "Step latency", "Queue depth", "Remote fraction", "Prediction hit rate", "Expert-load imbalance", "Hottest experts", "Plan version and migration", "Warm-ups"],
            rows);
        Assert.All(queries, q => Assert.Matches(@"moecloud_(silo|gateway)_[a-z_]+", q));
        // No layer or expert label anywhere: the hottest experts are ranks.
        Assert.All(queries, q => Assert.DoesNotMatch(@"\b(layer|expert)\s*[=!~]", q));
    }

    [PrometheusFact]
    public async Task DashboardAndAlerts_WhenScrapingAClusterUnderLoad_EveryQueryReturnsSeriesAndPromtoolPasses()
    {
        using var load = new CancellationTokenSource();
        var traffic = Traffic(load.Token);
        try
        {
            await using var prometheus = await PrometheusServer.Start(
                new Dictionary<string, string[]>
                {
                    ["moecloud-gateway"] = [fixture.Http.Authority],
                    ["moecloud-silo"] = fixture.Cluster.Silos.Select(s => s.OpsAddress.Authority).ToArray(),
                },
                RulesFile,
                Within);

            // 1. Every panel query returns series (bounded wait: scrapes every second, rates need two samples).
            var (_, panels) = ReadDashboard();
            var empty = await Eventually(prometheus, panels.Select(Substitute).ToArray());
            Assert.True(empty.Count == 0, "panel queries without series:\n" + string.Join("\n", empty));

            // 2. Every alert: loaded, healthy, and its signal (the expression left of the threshold) returns series.
            var rules = await prometheus.Rules();
            Assert.Equal(["MoeCloudExpertLoadImbalanceHigh", "MoeCloudMigrationStuck", "MoeCloudPodNotReady", "MoeCloudRemoteFractionHigh", "MoeCloudRequestFailuresHigh"],
                rules.Select(r => r.Name).Order(StringComparer.Ordinal));
            var signals = rules.Select(r => Signal(r.Query)).ToArray();
            var silent = await Eventually(prometheus, signals);
            Assert.True(silent.Count == 0, "alert signals without series:\n" + string.Join("\n", silent));
            foreach (var rule in await prometheus.Rules())
            {
                Assert.True(rule.Health == "ok", $"{rule.Name}: {rule.Health} {rule.Error}");
                Assert.Null((await prometheus.Query(rule.Query)).Error);
            }
        }
        finally
        {
            await load.CancelAsync();
            await traffic;
        }

        // 3. promtool: the rules file and the metrics text each process serves.
        var (rulesCode, rulesOutput) = await PrometheusServer.RunPromtool(null, "check", "rules", RulesFile);
        Assert.True(rulesCode == 0, rulesOutput);
        using var http = new HttpClient();
        foreach (var target in new[] { fixture.Http }.Concat(fixture.Cluster.Silos.Select(s => s.OpsAddress)))
        {
            var text = await http.GetStringAsync(new Uri(target, "/metrics"));
            var (code, output) = await PrometheusServer.RunPromtool(text, "check", "metrics");
            Assert.True(code == 0, $"{target}: {output}");
        }
    }

    [Fact]
    public void RulesFile_WhenRead_EveryAlertIsASignalAgainstAThreshold()
    {
        var expressions = File.ReadAllLines(RulesFile).Select(l => l.Trim()).Where(l => l.StartsWith("expr:", StringComparison.Ordinal)).ToArray();

        Assert.Equal(5, expressions.Length);
        Assert.All(expressions, e => Assert.Matches(@" > [0-9.]+$", e));
        Assert.All(expressions, e => Assert.Contains("moecloud_gateway_", e, StringComparison.Ordinal));
    }

    [Fact]
    public void ChartCopies_WhenInfraIsRead_AreTheSameFiles()
    {
        Assert.Equal(File.ReadAllText(Path.Combine(Root, "charts", "moecloud", "files", "dashboards", "moecloud.json")), File.ReadAllText(DashboardFile));
        Assert.Equal(File.ReadAllText(Path.Combine(Root, "charts", "moecloud", "files", "alerts", "moecloud.rules.yaml")), File.ReadAllText(RulesFile));
    }

    private static string Root { get; } = FindRoot();

    private static string DashboardFile => Path.Combine(Root, "infra", "dashboards", "moecloud.json");

    private static string RulesFile => Path.Combine(Root, "infra", "alerts", "moecloud.rules.yaml");

    private static (string[] Rows, string[] Queries) ReadDashboard()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(DashboardFile));
        var panels = doc.RootElement.GetProperty("panels").EnumerateArray().ToArray();
        var rows = panels.Where(p => p.GetProperty("type").GetString() == "row").Select(p => p.GetProperty("title").GetString()!).ToArray();
        var queries = panels.Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        Assert.NotEmpty(queries);
        return (rows, queries);
    }

    private static string Substitute(string query) => Variables.Aggregate(query, (q, v) => q.Replace(v.Key, v.Value, StringComparison.Ordinal));

    /// <summary>The expression left of the rule's last " &gt; " (the threshold).</summary>
    private static string Signal(string expression)
    {
        var at = expression.LastIndexOf(" > ", StringComparison.Ordinal);
        Assert.True(at > 0, $"'{expression}' is not '<signal> > <threshold>'.");
        return expression[..at];
    }

    /// <summary>Polls until every query returns series or <see cref="Within"/> passes; the queries still empty then (with errors).</summary>
    private static async Task<List<string>> Eventually(PrometheusServer prometheus, IReadOnlyList<string> queries)
    {
        using var deadline = new CancellationTokenSource(Within);
        while (true)
        {
            var empty = new List<string>();
            foreach (var query in queries)
            {
                var (series, error) = await prometheus.Query(query);
                if (series == 0)
                {
                    empty.Add(error is null ? query : $"{query} (error: {error})");
                }
            }

            if (empty.Count == 0 || deadline.IsCancellationRequested)
            {
                return empty;
            }

            await Task.Delay(500, CancellationToken.None);
        }
    }

    /// <summary>A little load until cancelled: full-stack steps, an invalid one, a refused one (no key) per round.</summary>
    private async Task Traffic(CancellationToken cancellationToken)
    {
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });
        using var noKey = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { MaxAttempts = 1 });
        var spec = fixture.Reference.Model.Spec;
        for (var round = 0; !cancellationToken.IsCancellationRequested; round++)
        {
            try
            {
                await client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(4, spec.Hidden, round), 4, spec.Hidden, 0, spec.MoeLayers - 1, cancellationToken: cancellationToken);
                await Refused(() => client.ForwardAsync(GatewayFixture.Model, new float[spec.Hidden + 1], 1, spec.Hidden + 1, 0, spec.MoeLayers - 1, cancellationToken: cancellationToken));
                await Refused(() => noKey.GetModelAsync(GatewayFixture.Model, cancellationToken));
                await Task.Delay(100, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private static async Task Refused(Func<Task> call)
    {
        var e = await Assert.ThrowsAnyAsync<RpcException>(call);
        Assert.NotEqual(StatusCode.OK, e.StatusCode);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeCloud.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MoeCloud.sln not found above " + AppContext.BaseDirectory);
    }
}
