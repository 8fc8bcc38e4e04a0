using MoeCloud.Cli.Load;

namespace MoeCloud.Cli.Tests.Load;

public sealed class LoadReportTests
{
    private static readonly LoadPattern TenSeconds = LoadPattern.Create("constant", 10, null, null, 10);

    [Fact]
    public void Build_WhenLatenciesAreOneToHundredMs_ReportsNearestRankPercentilesAndAttainment()
    {
        var samples = Enumerable.Range(1, 100).Select(i => new LoadSample(i * 0.04, i, LoadOutcome.Served)).ToArray();

        var report = LoadReport.Build(TenSeconds, samples, tokens: 4, sloMs: 90, windowSeconds: 5, late: 0);

        var all = report.Totals.All;
        Assert.Equal(100, all.Requests);
        Assert.Equal(50, all.P50Ms);
        Assert.Equal(95, all.P95Ms);
        Assert.Equal(99, all.P99Ms);
        Assert.Equal(0.90, all.SloAttainment!.Value, 9);
        Assert.False(all.WithinSlo);
        Assert.Equal(10, all.RequestsPerSecond, 9);
        Assert.Equal(40, all.TokensPerSecond, 9);
    }

    [Fact]
    public void Build_GroupsRequestsIntoWindowsByArrival_AndCountsTheWindowsWithinTheSlo()
    {
        // Window 0 (0–5 s): 10 fast requests. Window 1 (5–10 s): 9 fast and 1 failure, whose p99 is then beyond the SLO.
        var samples = Enumerable.Range(0, 10).Select(i => new LoadSample(i * 0.5, 5, LoadOutcome.Served))
            .Concat(Enumerable.Range(0, 9).Select(i => new LoadSample(5 + (i * 0.5), 5, LoadOutcome.Served)))
            .Append(new LoadSample(9.9, null, LoadOutcome.Failed))
            .ToArray();

        var report = LoadReport.Build(TenSeconds, samples, tokens: 1, sloMs: 10, windowSeconds: 5, late: 3);

        Assert.Equal(2, report.Windows.Count);
        Assert.Equal((0, 5), (report.Windows[0].StartSeconds, report.Windows[0].EndSeconds));
        Assert.Equal(10, report.Windows[0].Requests);
        Assert.True(report.Windows[0].WithinSlo);
        Assert.Equal(1.0, report.Windows[0].SloAttainment);
        Assert.Equal(10, report.Windows[1].Requests);
        Assert.Equal(1, report.Windows[1].Failed);
        Assert.False(report.Windows[1].WithinSlo);
        Assert.Equal(0.9, report.Windows[1].SloAttainment!.Value, 9);
        Assert.Equal(0.5, report.Totals.WindowSloAttainment);
        Assert.Equal(3, report.Totals.Late);
        Assert.Equal(0.95, report.Totals.All.SloAttainment!.Value, 9);
    }

    [Fact]
    public void Build_WhenRequestsAreDropped_CountsThemAsMissingTheSlo()
    {
        var samples = new[] { new LoadSample(0, 1, LoadOutcome.Served), new LoadSample(0.1, null, LoadOutcome.Dropped) };

        var report = LoadReport.Build(TenSeconds, samples, tokens: 1, sloMs: 10, windowSeconds: 10, late: 0);

        Assert.Equal(1, report.Totals.All.Dropped);
        Assert.Equal(0.5, report.Totals.All.SloAttainment);
        Assert.Equal(1, report.Totals.All.P99Ms);
        Assert.False(report.Totals.All.WithinSlo);
    }

    [Fact]
    public void Build_WhenAWindowHasNoRequests_LeavesItOutOfTheWindowAttainment()
    {
        var samples = new[] { new LoadSample(1, 2, LoadOutcome.Served) };

        var report = LoadReport.Build(TenSeconds, samples, tokens: 1, sloMs: 10, windowSeconds: 4, late: 0);

        Assert.Equal(3, report.Windows.Count);
        Assert.Equal(10, report.Windows[2].EndSeconds);
        Assert.Null(report.Windows[1].P50Ms);
        Assert.Null(report.Windows[1].WithinSlo);
        Assert.Equal(1.0, report.Totals.WindowSloAttainment);
    }
}
