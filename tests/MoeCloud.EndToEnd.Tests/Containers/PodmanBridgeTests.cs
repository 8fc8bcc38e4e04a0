using System.Globalization;
using System.Text.RegularExpressions;
using MoeCloud.Cli.Cluster;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// The bridge of a podman network whose container with the lowest port address leaves: a bridge whose address was never
/// set takes the next port's address (the containers' neighbour entries for the host go stale: the cause of the
/// requests lost in <see cref="ContainerChaosTests"/>); a pinned one keeps its own. Some kernels and podman versions
/// create the bridge with its address set already (<c>addr_assign_type</c> 3, seen on Linux 6.18 with podman 4.3), so
/// it never followed its ports; pinning it is then a no-op, and the test checks the same outcome.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed partial class PodmanBridgeTests
{
    [ContainerFact]
    public async Task Pin_WhenTheContainerWithTheLowestPortAddressLeaves_TheBridgeKeepsItsAddress()
    {
        var network = $"moecloud-bridge-{Guid.NewGuid().ToString("N")[..8]}";
        Assert.NotNull(ContainerImages.Run("podman", "network", "create", network));
        var containers = new List<string>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                containers.Add(Assert.IsType<string>(ContainerImages.Run("podman", "run", "--detach", "--network", network, ContainerImages.Redis, "redis-server", "--save", "")).Trim());
            }

            var bridge = await PodmanBridge.Interface(network, CancellationToken.None);
            var ports = containers.ToDictionary(c => c, PortAddress);
            var lowest = ports.MinBy(p => p.Value, StringComparer.Ordinal);
            var before = PodmanBridge.Address(bridge);
            if (AssignType(bridge) != AddressSet)
            {
                Assert.Equal(lowest.Value, before); // the kernel's rule for a bridge whose address was never set
            }

            Assert.Null(await PodmanBridge.Pin(network, CancellationToken.None));
            Assert.Equal(AddressSet, AssignType(bridge));
            ContainerImages.Run("podman", "rm", "--force", "--time", "0", lowest.Key);

            Assert.Equal(before, PodmanBridge.Address(bridge));
        }
        finally
        {
            containers.ForEach(c => ContainerImages.Run("podman", "rm", "--force", "--time", "0", c));
            ContainerImages.Run("podman", "network", "rm", "--force", network);
        }
    }

    /// <summary><c>NET_ADDR_SET</c>: the interface's address was set (by <c>ip link set … address</c> or at creation), not taken from its ports.</summary>
    private const int AddressSet = 3;

    /// <summary>How interface <paramref name="name"/>'s address was assigned (<c>/sys/class/net/NAME/addr_assign_type</c>).</summary>
    private static int AssignType(string name) =>
        int.Parse(File.ReadAllText($"/sys/class/net/{name}/addr_assign_type").Trim(), CultureInfo.InvariantCulture);

    /// <summary>The address of the bridge port (host end of the veth pair) of container <paramref name="id"/>.</summary>
    private static string PortAddress(string id)
    {
        var pid = Assert.IsType<string>(ContainerImages.Run("podman", "inspect", "--format", "{{.State.Pid}}", id)).Trim();
        var link = Assert.IsType<string>(ContainerImages.Run("nsenter", "--target", pid, "--net", "ip", "-o", "link", "show", "eth0"));
        var peer = PeerIndex().Match(link);
        Assert.True(peer.Success, $"no veth peer in '{link}'");
        var index = int.Parse(peer.Groups[1].Value, CultureInfo.InvariantCulture);
        var port = Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName)
            .Single(n => int.TryParse(File.ReadAllText($"/sys/class/net/{n}/ifindex").Trim(), CultureInfo.InvariantCulture, out var i) && i == index);
        return Assert.IsType<string>(PodmanBridge.Address(port!));
    }

    [GeneratedRegex(@"eth0@if(\d+)")]
    private static partial Regex PeerIndex();
}
