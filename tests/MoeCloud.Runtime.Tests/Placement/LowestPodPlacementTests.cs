using System.Net;
using MoeCloud.Runtime.Placement;
using Orleans.Runtime;

namespace MoeCloud.Runtime.Tests.Placement;

public sealed class LowestPodPlacementTests
{
    private static SiloAddress Silo(int port) => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1);

    [Fact]
    public void Lowest_WhenSilosNamePods_PicksTheLowestPodWhateverTheOrder()
    {
        var chosen = LowestPodPlacementDirector.Lowest([(Silo(3), "pod-2"), (Silo(1), "moecloud-silo-1"), (Silo(2), "pod-3")]);

        Assert.Equal(Silo(1), chosen);
    }

    [Fact]
    public void Lowest_WhenASiloNamesNoPod_PutsItAfterThoseThatDo()
    {
        var chosen = LowestPodPlacementDirector.Lowest([(Silo(1), null), (Silo(2), "gateway"), (Silo(3), "pod-5")]);

        Assert.Equal(Silo(3), chosen);
    }
}
