using MoeCloud.Placement.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Placement.Tests.Plans;

public sealed class EngineMapFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void SaveLoad_WhenRoundTripped_KeepsTheMapAndWritesOnlyTheOneKey()
    {
        var path = _dir.Combine("map.json");
        int[][] map = [[0, 1, 2, 0], [3, 2, 1, 0]];

        EngineMapFile.Save(path, map);

        Assert.Equal(map, EngineMapFile.Load(path));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        Assert.Equal(["physical_to_logical_map"], doc.RootElement.EnumerateObject().Select(p => p.Name));
    }

    [Theory]
    [InlineData("not json", "is not valid JSON")]
    [InlineData("{\"logical_count\": [[1]]}", "has no 'physical_to_logical_map' key")]
    [InlineData("[[0, 1]]", "has no 'physical_to_logical_map' key")]
    [InlineData("{\"physical_to_logical_map\": [[0]], \"rank\": 0}", "has key 'rank' besides")]
    [InlineData("{\"physical_to_logical_map\": []}", "must be a non-empty array of layers")]
    [InlineData("{\"physical_to_logical_map\": [0, 1]}", "layer 0 is Number, not an array")]
    [InlineData("{\"physical_to_logical_map\": [[0, 1], [0]]}", "layer 1 has 1 physical experts, layer 0 has 2")]
    [InlineData("{\"physical_to_logical_map\": [[0, 1.5]]}", "layer 0, physical expert 1: 1.5 is not a logical expert id")]
    [InlineData("{\"physical_to_logical_map\": [[0, \"1\"]]}", "layer 0, physical expert 1: \"1\" is not a logical expert id")]
    [InlineData("{\"physical_to_logical_map\": [[-1, 0]]}", "layer 0, physical expert 0: -1 is not a logical expert id")]
    public void Load_WhenMalformed_NamesTheFileAndTheField(string json, string expected)
    {
        var path = _dir.Combine("bad.json");
        File.WriteAllText(path, json);

        var e = Assert.Throws<PlanFormatException>(() => EngineMapFile.Load(path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }
}
