using MoeCloud.Cli.Load;

namespace MoeCloud.Cli.Tests.Load;

public sealed class LoadPatternTests
{
    private const double Tolerance = 1e-6;

    [Fact]
    public void Arrivals_WhenConstant_AreEvenlySpacedAtTheRate()
    {
        var pattern = LoadPattern.Create("constant", 10, null, null, 2);

        var arrivals = pattern.Arrivals().ToArray();

        Assert.Equal(20, pattern.Requests);
        Assert.Equal(20, arrivals.Length);
        for (var i = 0; i < arrivals.Length; i++)
        {
            Assert.Equal(i * 0.1, arrivals[i], Tolerance);
        }
    }

    [Fact]
    public void Arrivals_WhenStep_AreLowThenHighThenLowForEachPeriod()
    {
        var pattern = LoadPattern.Create("step", 10, 40, null, 3);

        var arrivals = pattern.Arrivals().ToArray();

        Assert.Equal(1, pattern.PeriodSeconds, Tolerance);
        Assert.Equal(10 + 40 + 10, arrivals.Length);
        Assert.Equal(10, arrivals.Count(a => a < 1 - Tolerance));
        Assert.Equal(40, arrivals.Count(a => a >= 1 - Tolerance && a < 2 - Tolerance));
        Assert.Equal(10, arrivals.Count(a => a >= 2 - Tolerance));
        Assert.Equal(1.0, arrivals[10], Tolerance);
        Assert.Equal(1.025, arrivals[11], Tolerance);
        Assert.Equal(2.1, arrivals[51], Tolerance);
    }

    [Fact]
    public void Arrivals_WhenRamp_FollowTheIntegralOfALinearRate()
    {
        // λ(t) = 10 + 10t over 2 s: Λ(t) = 10t + 5t², Λ(2) = 40.
        var pattern = LoadPattern.Create("ramp", 10, 30, null, 2);

        var arrivals = pattern.Arrivals().ToArray();

        Assert.Equal(40, arrivals.Length);
        Assert.Equal(30, pattern.RateAt(2), Tolerance);
        for (var i = 0; i < arrivals.Length; i++)
        {
            // t = (−10 + √(100 + 20 i)) / 10, the root of 5t² + 10t = i.
            Assert.Equal((-10 + Math.Sqrt(100 + (20.0 * i))) / 10, arrivals[i], 1e-5);
        }

        Assert.True(arrivals[1] - arrivals[0] > arrivals[^1] - arrivals[^2], "the gaps must shrink as the rate rises");
    }

    [Fact]
    public void Arrivals_WhenSine_AverageTheMeanRateAndCrowdAtMidPeriod()
    {
        // One cycle from 10 to 50 and back: mean rate 30, so 120 requests in 4 s, most around t = 2.
        var pattern = LoadPattern.Create("sine", 10, 50, null, 4);

        var arrivals = pattern.Arrivals().ToArray();

        Assert.Equal(120, arrivals.Length);
        Assert.Equal(50, pattern.RateAt(2), Tolerance);
        Assert.Equal(10, pattern.RateAt(4), Tolerance);
        var middle = arrivals.Count(a => a is >= 1 and < 3);
        Assert.True(middle > 120 - middle, $"{middle} of 120 arrivals in the middle half");
        Assert.Equal(arrivals.Order(), arrivals);
    }

    [Fact]
    public void Arrivals_WhenComputedTwice_AreTheSame()
    {
        var pattern = LoadPattern.Create("sine", 3, 17, 1.3, 5);

        Assert.Equal(pattern.Arrivals().ToArray(), pattern.Arrivals().ToArray());
    }

    [Theory]
    [InlineData("burst", 10.0, null, 5.0, "constant, step, ramp or sine")]
    [InlineData("constant", -1.0, null, 5.0, "the rate must be more than 0")]
    [InlineData("constant", 0.0, null, 5.0, "the rate must be more than 0")]
    [InlineData("step", 10.0, 5.0, 5.0, "the peak must be at least the rate")]
    [InlineData("ramp", 10.0, 9.0, 5.0, "the peak must be at least the rate")]
    [InlineData("sine", 10.0, 1.0, 5.0, "the peak must be at least the rate")]
    [InlineData("sine", 10.0, null, 5.0, "needs a peak rate")]
    [InlineData("constant", 10.0, 20.0, 5.0, "takes no peak")]
    [InlineData("constant", 10.0, null, 0.0, "the duration must be more than 0")]
    [InlineData("constant", 10.0, null, -3.0, "the duration must be more than 0")]
    public void Create_WhenAValueIsOutOfRange_SaysWhich(string shape, double rate, double? peak, double duration, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => LoadPattern.Create(shape, rate, peak, null, duration));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_WhenThePeriodIsNotPositive_SaysSo()
    {
        var e = Assert.Throws<ArgumentException>(() => LoadPattern.Create("step", 1, 2, 0, 10));

        Assert.Contains("the period must be more than 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_WhenSeveralValuesAreWrong_ReportsEveryOne()
    {
        var e = Assert.Throws<ArgumentException>(() => LoadPattern.Create("burst", -1, null, null, 0));

        Assert.Contains("pattern must be", e.Message, StringComparison.Ordinal);
        Assert.Contains("rate must be", e.Message, StringComparison.Ordinal);
        Assert.Contains("duration must be", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_WhenTheRunWouldSendTooManyRequests_SaysHowMany()
    {
        var e = Assert.Throws<ArgumentException>(() => LoadPattern.Create("constant", 100_000, null, null, 3600));

        Assert.Contains("360000000 requests; at most 10000000", e.Message, StringComparison.Ordinal);
    }
}
