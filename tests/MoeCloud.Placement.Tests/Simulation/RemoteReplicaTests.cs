using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Tests.Simulation;

public sealed class RemoteReplicaTests
{
    [Fact]
    public void LeastLoaded_WhenOneReplicaHasTheLeastLoad_PicksItWhateverTheHash()
    {
        foreach (var hash in new uint[] { 0, 1, 2, 12345 })
        {
            Assert.Equal(2, RemoteReplica.LeastLoaded<long>([4, 3, 1, 5], hash));
        }
    }

    [Theory]
    [InlineData(0u, 1)]
    [InlineData(1u, 3)]
    [InlineData(2u, 4)]
    [InlineData(7u, 3)]
    public void LeastLoaded_WhenReplicasTie_PicksTheHashModTiesthTiedReplicaInReplicaOrder(uint hash, int expected)
    {
        // Replicas 1, 3 and 4 share the least load 1.
        Assert.Equal(expected, RemoteReplica.LeastLoaded<int>([3, 1, 5, 1, 1], hash));
    }

    [Fact]
    public void LeastLoaded_WhenLoadsAreEmpty_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => RemoteReplica.LeastLoaded<int>([], 0));
    }

    [Fact]
    public void TieHash_WhenGivenFixedInputs_IsAFixedValueInEveryProcess()
    {
        // Values of the documented mix, computed independently: no per-process randomisation.
        Assert.Equal(3115234440u, RemoteReplica.TieHash(1, 2, 3, 4));
        Assert.Equal(775526073u, RemoteReplica.TieHash(0, 0, 0, 1));
    }

    [Fact]
    public void ForDispatchAndForBatch_WhenSameKeyAndSeed_PickTheSameReplicaAsTheirHash()
    {
        long[] served = [2, 2, 2, 2];
        int[] inflight = [0, 0, 0];
        for (var key = 0; key < 50; key++)
        {
            var dispatch = RemoteReplica.ForDispatch<long>(served, key, 3, 1, 9);
            Assert.Equal(dispatch, RemoteReplica.ForDispatch<long>(served, key, 3, 1, 9));
            Assert.Equal(RemoteReplica.LeastLoaded<long>(served, RemoteReplica.TieHash((uint)key, 3, 1, 9)), dispatch);

            var batch = RemoteReplica.ForBatch<int>(inflight, 2, key, 5, RemoteReplica.DefaultSeed);
            Assert.Equal(batch, RemoteReplica.ForBatch<int>(inflight, 2, key, 5, RemoteReplica.DefaultSeed));
            Assert.Equal(RemoteReplica.LeastLoaded<int>(inflight, RemoteReplica.TieHash(2, (uint)key, 5, RemoteReplica.DefaultSeed)), batch);
        }
    }

    [Fact]
    public void ForDispatch_WhenTheSeedChanges_SpreadsTiesDifferently()
    {
        long[] served = [0, 0, 0, 0];
        var seed1 = Enumerable.Range(0, 64).Select(t => RemoteReplica.ForDispatch<long>(served, t, 0, 0, 1)).ToArray();
        var seed2 = Enumerable.Range(0, 64).Select(t => RemoteReplica.ForDispatch<long>(served, t, 0, 0, 2)).ToArray();

        Assert.NotEqual(seed1, seed2);
        Assert.Equal(4, seed1.Distinct().Count());
    }
}
