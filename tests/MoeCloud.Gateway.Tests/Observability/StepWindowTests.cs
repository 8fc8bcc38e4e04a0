using Microsoft.Extensions.Time.Testing;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Gateway.Tests.Observability;

public sealed class StepWindowTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);

    [Fact]
    public void Read_WhenLatenciesAreOneToTwoHundredMilliseconds_ReportsTheNearestRankPercentiles()
    {
        var time = new FakeTimeProvider();
        var window = new StepWindow(Window, time);
        var latencies = Enumerable.Range(1, 200).ToArray();
        new Random(5).Shuffle(latencies);
        foreach (var ms in latencies)
        {
            window.Served(2, TimeSpan.FromMilliseconds(ms));
            time.Advance(TimeSpan.FromMilliseconds(50));
        }

        var summary = window.Read();

        Assert.Equal(200, summary.Requests);
        Assert.Equal(0, summary.Failed);
        Assert.Equal(400, summary.Tokens);
        Assert.Equal(100, summary.P50Ms);
        Assert.Equal(190, summary.P95Ms);
        Assert.Equal(198, summary.P99Ms);
        Assert.Equal(400 / 30.0, summary.TokensPerSecond, 9);
    }

    [Fact]
    public void Read_WhenStepsAreOlderThanTheWindow_CountsOnlyTheRecentOnes()
    {
        var time = new FakeTimeProvider();
        var window = new StepWindow(Window, time);
        for (var i = 0; i < 10; i++)
        {
            window.Served(4, TimeSpan.FromSeconds(1));
        }

        window.Failed();
        time.Advance(TimeSpan.FromSeconds(31));
        for (var i = 0; i < 5; i++)
        {
            window.Served(1, TimeSpan.FromMilliseconds(2));
        }

        var summary = window.Read();

        Assert.Equal(5, summary.Requests);
        Assert.Equal(0, summary.Failed);
        Assert.Equal(5, summary.Tokens);
        Assert.Equal(2, summary.P99Ms);
    }

    [Fact]
    public void Read_WhenStepsFail_CountsThemButNotTheirLatency()
    {
        var time = new FakeTimeProvider();
        var window = new StepWindow(Window, time);
        window.Served(3, TimeSpan.FromMilliseconds(7));
        window.Failed();
        window.Failed();

        var summary = window.Read();

        Assert.Equal(3, summary.Requests);
        Assert.Equal(2, summary.Failed);
        Assert.Equal(3, summary.Tokens);
        Assert.Equal(7, summary.P50Ms);
        Assert.Equal(7, summary.P99Ms);
    }

    [Fact]
    public void Read_WhenNothingWasServed_HasNoPercentiles()
    {
        var window = new StepWindow(Window, new FakeTimeProvider());
        window.Failed();

        var summary = window.Read();

        Assert.Equal(1, summary.Requests);
        Assert.Null(summary.P50Ms);
        Assert.Null(summary.P95Ms);
        Assert.Null(summary.P99Ms);
    }

    [Fact]
    public void Read_WhenMoreStepsThanSamples_PercentilesCoverTheLatestSamplesAndCountsCoverAll()
    {
        var time = new FakeTimeProvider();
        var window = new StepWindow(Window, time, samples: 16);
        for (var i = 0; i < 100; i++)
        {
            window.Served(1, TimeSpan.FromMilliseconds(1000));
        }

        for (var i = 0; i < 16; i++)
        {
            window.Served(1, TimeSpan.FromMilliseconds(3));
        }

        var summary = window.Read();

        Assert.Equal(116, summary.Requests);
        Assert.Equal(3, summary.P99Ms);
    }

    [Fact]
    public void Served_FromManyThreads_CountsEveryStep()
    {
        var window = new StepWindow(Window, new FakeTimeProvider());

        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 1000; i++)
            {
                window.Served(1, TimeSpan.FromMilliseconds(1));
            }
        });

        Assert.Equal(8000, window.Read().Requests);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1500)]
    [InlineData(3_601_000)]
    public void Constructor_WhenTheWindowIsNotWholeSecondsUpToAnHour_Throws(int milliseconds)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new StepWindow(TimeSpan.FromMilliseconds(milliseconds), TimeProvider.System));

        Assert.Contains("whole seconds", e.Message, StringComparison.Ordinal);
    }
}
