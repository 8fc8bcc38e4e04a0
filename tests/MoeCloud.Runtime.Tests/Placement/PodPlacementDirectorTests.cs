using MoeCloud.Abstractions;
using MoeCloud.Runtime.Placement;

namespace MoeCloud.Runtime.Tests.Placement;

public sealed class PodPlacementDirectorTests
{
    [Theory]
    [InlineData("pod-3", 3)]
    [InlineData("moecloud-silo-12", 12)]
    [InlineData("silo", -1)]
    [InlineData("", -1)]
    [InlineData(null, -1)]
    public void PodOfSiloName_ReadsTheTrailingOrdinal(string? name, int pod) => Assert.Equal(pod, PodNames.PodOfSiloName(name));

    [Theory]
    [InlineData("deepseek/3/17@5", true, 5)]
    [InlineData("7", true, 7)]
    [InlineData("m/1/2", false, 0)]
    [InlineData("m/x/2@1", false, 0)]
    public void TryGetPod_ReadsReplicaKeysAndPodIndices(string key, bool ok, int pod)
    {
        Assert.Equal(ok, PodPlacementDirector.TryGetPod(key, out var actual));
        if (ok)
        {
            Assert.Equal(pod, actual);
        }
    }

    [Fact]
    public void ReplicaKey_RoundTrips()
    {
        var key = new ExpertReplicaKey("qwen3", 47, 255, 63);

        Assert.Equal("qwen3/47/255@63", key.ToString());
        Assert.Equal(key, ExpertReplicaKey.Parse(key.ToString()));
        Assert.Throws<FormatException>(() => ExpertReplicaKey.Parse("nope"));
    }
}
