using System.Net;
using System.Net.Sockets;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Runtime.Tests.Hosting;

public sealed class FreePortsTests
{
    [Fact]
    public void Take_WhenTheEphemeralRangeIsKnown_GivesDistinctBindablePortsBelowIt()
    {
        var ports = FreePorts.Take(40).Concat(FreePorts.Take(40)).ToArray();

        Assert.Equal(ports.Length, ports.Distinct().Count());
        var range = "/proc/sys/net/ipv4/ip_local_port_range";
        if (File.Exists(range) && int.Parse(File.ReadAllText(range).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture) is var low && low - 10000 >= 2000)
        {
            // Below the range that outgoing connections take their local ports from.
            Assert.All(ports, p => Assert.InRange(p, 10000, low - 1));
        }

        foreach (var port in ports.Take(10))
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            listener.Stop();
        }
    }
}
