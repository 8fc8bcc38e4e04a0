using System.Text.Json;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class BenchElasticCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task BenchElastic_WhenOfflineJson_PrintsTheDocumentedKeys()
    {
        var trace = _dir.Combine("t");
        var (synth, _, synthError) = await MoectlRunner.Run("trace", "synth", "--out", trace, "--tokens", "800", "--sequences", "16", "--layers", "4", "--experts", "16", "--top-k", "2");
        Assert.True(synth == 0, synthError);

        var (code, output, error) = await MoectlRunner.Run("bench", "elastic", "--offline", "--json", "--pods", "4", "--redundant", "0", "--max-redundant", "8", "--time-limit", "1", trace);

        Assert.True(code == 0, error);
        var root = JsonDocument.Parse(output).RootElement;
        foreach (var key in new[] { "imbalanceFixedR", "imbalanceAutoscaled", "remoteFixedR", "remoteAutoscaled" })
        {
            Assert.Equal(JsonValueKind.Number, root.GetProperty(key).ValueKind);
        }

        var row = Assert.Single(root.GetProperty("traces").EnumerateArray());
        Assert.Contains("autoscaled from it", row.GetProperty("label").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--rate", "10", "--peak", "5")]
    [InlineData("--start-pods", "0")]
    [InlineData("--min-pods", "3", "--max-pods", "2")]
    [InlineData("--preset", "huge")]
    [InlineData("--duration", "1")]
    [InlineData("--refill-delay", "-1")]
    [InlineData("--warmup", "601")]
    [InlineData("--warmup", "soon")]
    [InlineData("--standby-warmup", "-1")]
    public async Task BenchElastic_WhenALiveOptionIsOutOfRange_ExitsTwoBeforeStartingAnything(params string[] options)
    {
        var (code, output, error) = await MoectlRunner.Run(["bench", "elastic", "--json", .. options]);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.DoesNotContain("offline: fixed R against", error, StringComparison.Ordinal);
    }
}
