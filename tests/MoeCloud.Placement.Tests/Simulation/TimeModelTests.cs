using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class TimeModelTests
{
    /// <summary>
    /// Two pods, one layer, top-3 of 4 experts: experts 0 and 2 on pod 0, 1 and 3 on pod 1. Three tokens route [0, 2, 1]
    /// (home pod 0, expert 1 remote), one token routes [1, 3, 0] (home pod 1, expert 0 remote).
    /// </summary>
    private static (PodTraffic Traffic, SimulationMetrics Metrics) HandCase()
    {
        var plan = TestData.Plan(2, [[[0], [1], [0], [1]]]);
        var trace = TestData.Trace(4, [[[0, 2, 1]], [[0, 2, 1]], [[0, 2, 1]], [[1, 3, 0]]]);
        var traffic = new PodTraffic(1, 2);
        var metrics = Simulator.Run(plan, trace, new SimulationOptions { Home = HomePolicy.Oracle }, null, traffic);
        return (traffic, metrics);
    }

    [Fact]
    public void Run_WhenTrafficIsCollected_CountsEachRemoteDispatchAndItsCombine()
    {
        var (traffic, metrics) = HandCase();

        Assert.Equal(4, metrics.RemoteDispatches);
        Assert.Equal(3, traffic.Dispatches(0, 0, 1));
        Assert.Equal(1, traffic.Dispatches(0, 1, 0));
        Assert.Equal(3, traffic.Combines(0, 1, 0));
        Assert.Equal(1, traffic.Combines(0, 0, 1));
        Assert.Equal(0, traffic.Dispatches(0, 0, 0));
    }

    [Fact]
    public void Predict_WhenTwoPodsHandComputed_GivesExactSeconds()
    {
        var (traffic, _) = HandCase();
        var link = new LinkModel("test", 1e9, 10e-6);

        // A hidden state is 1024 × 2 = 2,048 bytes. Dispatch: pod 0 sends 3 states (6,144 B: 10 µs + 6.144 µs) and
        // receives 1 (2,048 B: 10 µs + 2.048 µs); pod 1 the reverse; the busiest pod takes 16.144 µs. The combine mirrors
        // it: 16.144 µs. The tail is pair 0 → 1: 6,144 B there and 6,144 B back, 32.288 µs.
        var p = TimeModel.Predict(traffic, link, hidden: 1024, bytesPerElement: 2);

        var layer = Assert.Single(p.Layers);
        Assert.Equal(16.144e-6, layer.DispatchSeconds, 12);
        Assert.Equal(16.144e-6, layer.CombineSeconds, 12);
        Assert.Equal(32.288e-6, layer.Seconds, 12);
        Assert.Equal(16_384, layer.Bytes);
        Assert.Equal(new PairTail(0, 0, 1, 12_288, layer.Tail!.Seconds), layer.Tail);
        Assert.Equal(32.288e-6, layer.Tail.Seconds, 12);
        Assert.Equal(32.288e-6, p.Seconds, 12);
        Assert.Equal(32.288e-6, p.MaxLayerSeconds, 12);
        Assert.Equal(layer.Tail, p.Tail);
        Assert.Equal((1.0, 10.0), (p.GigabytesPerSecond, p.LatencyMicroseconds));
    }

    [Fact]
    public void Predict_WhenNothingCrossesPods_IsZeroWithoutTail()
    {
        var p = TimeModel.Predict(new PodTraffic(2, 3), LinkModel.Parse("ib400"), 2048, 2);

        Assert.Equal(0, p.Seconds);
        Assert.Null(p.Tail);
        Assert.All(p.Layers, l => Assert.Null(l.Tail));
    }

    [Theory]
    [InlineData("nvlink", 450.0, 2.0)]
    [InlineData("ib400", 50.0, 5.0)]
    [InlineData("eth100", 12.5, 20.0)]
    [InlineData("25,3.5", 25.0, 3.5)]
    [InlineData(" 100 , 0 ", 100.0, 0.0)]
    public void Parse_WhenPresetOrExplicit_GivesBandwidthAndLatency(string text, double gbps, double micros)
    {
        var link = LinkModel.Parse(text);

        Assert.Equal(gbps, link.GigabytesPerSecond, 9);
        Assert.Equal(micros, link.LatencyMicroseconds, 9);
    }

    [Theory]
    [InlineData("foo", "is not a preset (nvlink, ib400, eth100, loopback) or <GB/s>,<µs>")]
    [InlineData("-5,2", "bandwidth must be a positive number of GB/s, got '-5'")]
    [InlineData("0,2", "bandwidth must be a positive number of GB/s, got '0'")]
    [InlineData("50", "gives a bandwidth but no latency")]
    [InlineData("50,", "latency must be a number of µs >= 0, got ''")]
    [InlineData("50,-1", "latency must be a number of µs >= 0, got '-1'")]
    [InlineData("50,5,1", "is not a preset")]
    public void Parse_WhenBadInput_ThrowsSayingWhatIsWrong(string text, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => LinkModel.Parse(text));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }
}
