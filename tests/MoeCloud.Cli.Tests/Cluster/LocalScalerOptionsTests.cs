using MoeCloud.Cli.Cluster;

namespace MoeCloud.Cli.Tests.Cluster;

public sealed class LocalScalerOptionsTests
{
    [Fact]
    public void Validated_WhenDefaultsOrInRange_ReturnsTheOptions()
    {
        var options = new LocalScalerOptions { StandbyWarmup = TimeSpan.Zero, MaxMoves = 1, MaxSteps = 10_000 };

        Assert.Same(options, options.Validated());
        Assert.Equal(TimeSpan.FromSeconds(30), new LocalScalerOptions().Validated().StandbyWarmup);
    }

    public static TheoryData<LocalScalerOptions, string> OutOfRange => new()
    {
        { new LocalScalerOptions { StandbyWarmup = TimeSpan.FromSeconds(-1) }, "StandbyWarmup must be in [0, 10 min]" },
        { new LocalScalerOptions { StandbyWarmup = TimeSpan.FromMinutes(11) }, "StandbyWarmup must be in [0, 10 min]" },
        { new LocalScalerOptions { MaxMoves = 0 }, "MaxMoves must be at least 1" },
        { new LocalScalerOptions { MaxSteps = 0 }, "MaxSteps must be in [1, 10000]" },
        { new LocalScalerOptions { RolloutTimeout = TimeSpan.Zero }, "RolloutTimeout must be positive" },
        { new LocalScalerOptions { ServeTimeout = TimeSpan.FromSeconds(-1) }, "ServeTimeout must not be negative" },
        { new LocalScalerOptions { PollInterval = TimeSpan.FromSeconds(11) }, "PollInterval must be in [1 ms, 10 s]" },
    };

    [Theory]
    [MemberData(nameof(OutOfRange))]
    public void Validated_WhenAValueIsOutOfRange_ThrowsNamingIt(LocalScalerOptions options, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => options.Validated());

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validated_WhenSeveralValuesAreOutOfRange_NamesEveryOne()
    {
        var error = Assert.Throws<ArgumentException>(() => new LocalScalerOptions { StandbyWarmup = TimeSpan.FromSeconds(-1), MaxSteps = 0 }.Validated());

        Assert.Contains("StandbyWarmup", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxSteps", error.Message, StringComparison.Ordinal);
    }
}
