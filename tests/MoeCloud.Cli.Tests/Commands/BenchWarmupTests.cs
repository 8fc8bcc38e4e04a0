using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Commands;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>The benchmarks' warm-up: untimed runs until the windows' medians stop improving, within the limit.</summary>
public sealed class BenchWarmupTests
{
    [Theory]
    [InlineData(new[] { 5.0, 5.0 }, false)]                 // two windows are too few to tell
    [InlineData(new[] { 10.0, 8.0, 6.0 }, false)]           // still 25% faster than the better window before
    [InlineData(new[] { 10.0, 8.0, 7.9 }, true)]            // 1.25% faster: steady
    [InlineData(new[] { 10.0, 8.0, 9.0 }, true)]            // slower (noise): steady
    [InlineData(new[] { 9.0, 7.0, 7.5, 6.9 }, true)]        // 1.4% below the better of the two before
    [InlineData(new[] { 9.0, 7.0, 7.5, 6.7 }, false)]       // 4.3% below it
    public void IsSteady_ComparesTheLastWindowWithTheBetterOfTheTwoBefore(double[] medians, bool steady)
    {
        Assert.Equal(steady, SteadyWarmup.IsSteady(medians));
    }

    [Fact]
    public async Task WarmUp_WhenTheRunsKeepGettingFaster_RunsUntilTheLimit()
    {
        // Each run is shorter than the one before it, by more than 3% per window, so no window is ever steady.
        var runs = 0;
        var elapsed = await SteadyWarmup.WarmUp(TimeSpan.FromSeconds(3), async i =>
        {
            runs++;
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1, 400 * Math.Pow(0.9, i))));
        });

        Assert.True(elapsed >= TimeSpan.FromSeconds(3), $"stopped after {elapsed}");
        Assert.True(runs > 1);
    }

    [Fact]
    public async Task WarmUp_WhenTheLimitIsZero_RunsNothing()
    {
        var runs = 0;

        await SteadyWarmup.WarmUp(TimeSpan.Zero, _ =>
        {
            runs++;
            return Task.CompletedTask;
        });

        Assert.Equal(0, runs);
    }
}
