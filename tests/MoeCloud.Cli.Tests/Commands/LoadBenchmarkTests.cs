using MoeCloud.Cli.Commands;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class LoadBenchmarkTests
{
    [Fact]
    public void EvictAll_WhenPagesStayResident_ThrowsNamingTheFileAndItsBytes()
    {
        var evictions = 0;

        var e = Assert.Throws<InvalidOperationException>(() => LoadBenchmark.EvictAll(
            ["/w/a.safetensors", "/w/b.safetensors"],
            _ => evictions++,
            f => f.EndsWith("b.safetensors", StringComparison.Ordinal) ? 8192 : 0));

        Assert.Contains("b.safetensors: 8192 bytes", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("a.safetensors", e.Message, StringComparison.Ordinal);
        Assert.Contains("--work-dir", e.Message, StringComparison.Ordinal);
        Assert.Equal(3 * 2, evictions);
    }

    [Fact]
    public void EvictAll_WhenASecondEvictionDropsTheRest_Returns()
    {
        var evictions = 0;

        LoadBenchmark.EvictAll(["/w/a.safetensors"], _ => evictions++, _ => evictions < 2 ? 4096 : 0);

        Assert.Equal(2, evictions);
    }
}
