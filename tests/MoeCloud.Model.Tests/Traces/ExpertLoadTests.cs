using MoeCloud.Model.Traces;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Traces;

public sealed class ExpertLoadTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void FromTrace_CountsEverySlot()
    {
        var trace = TraceBuilder.FromRouting(3, [[[0, 1]], [[0, 2]], [[0, 1]]], [0, 0, 1]);

        var load = ExpertLoad.FromTrace(trace);

        Assert.Equal([3L, 2, 1], load.Counts);
        Assert.Equal(1.5, load.Skew(0), 12);
    }

    [Fact]
    public void Hottest_WhenAskedForFewerThanLoaded_ReturnsTheBusiestFirstWithTiesByLayerThenExpert()
    {
        var load = new ExpertLoad(2, 3, [5, 0, 7, 7, 1, 5]);

        var hottest = load.Hottest(4);

        Assert.Equal([(0, 2, 7L), (1, 0, 7L), (0, 0, 5L), (1, 2, 5L)], hottest);
    }

    [Fact]
    public void Hottest_WhenFewerExpertsHaveLoad_LeavesOutTheIdleOnes()
    {
        var load = new ExpertLoad(2, 2, [0, 3, 0, 0]);

        Assert.Equal([(0, 1, 3L)], load.Hottest(10));
        Assert.Throws<ArgumentOutOfRangeException>(() => load.Hottest(0));
    }

    [Fact]
    public void LoadSglangDump_WhenTwoDimensional_ReadsLayersByExperts()
    {
        var path = Write("{\"counts\": [[1, 2, 3], [0, 0, 6]], \"rank\": 0}");

        var load = ExpertLoad.LoadSglangDump(path);

        Assert.Equal(2, load.Layers);
        Assert.Equal(3, load.Experts);
        Assert.Equal(6, load[1, 2]);
        Assert.Equal(3.0, load.Skew(1), 12);
    }

    [Fact]
    public void LoadSglangDump_WhenPassesByLayersByExperts_SumsPasses()
    {
        var path = Write("{\"logical_count\": [[[1, 2], [3, 4]], [[10, 20], [30, 40]]]}");

        var load = ExpertLoad.LoadSglangDump(path);

        Assert.Equal([11L, 22, 33, 44], load.Counts);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"other\": 1}", "no 'counts' array")]
    [InlineData("{\"counts\": []}", "non-empty array")]
    [InlineData("{\"counts\": [[1, 2], [3]]}", "layer 1 of 'counts' does not have 2 experts")]
    [InlineData("{\"counts\": [[1, -2]]}", "not a non-negative whole number")]
    [InlineData("{\"counts\": [[1, \"x\"]]}", "not a non-negative whole number")]
    [InlineData("{\"counts\": [[1, 2.5]]}", "not a non-negative whole number")]
    [InlineData("{\"counts\": [[[[1]]]]}", "has 4 dimensions")]
    public void LoadSglangDump_WhenMalformed_NamesFileAndProblem(string json, string expected)
    {
        var path = Write(json);

        var e = Assert.Throws<TraceFormatException>(() => ExpertLoad.LoadSglangDump(path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadSglangDump_WhenFileIsMissing_NamesIt()
    {
        var path = _dir.Combine("missing.json");

        Assert.Equal(path, Assert.Throws<TraceFormatException>(() => ExpertLoad.LoadSglangDump(path)).FilePath);
    }

    private string Write(string json)
    {
        var path = _dir.Combine($"{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
