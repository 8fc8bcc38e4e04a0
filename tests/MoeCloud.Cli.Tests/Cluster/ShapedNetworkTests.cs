using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MoeCloud.Cli.Cluster;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>A fact that needs network namespaces, veth pairs and tc (root and iproute2); skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ShapedNetworkFactAttribute : FactAttribute
{
    public ShapedNetworkFactAttribute()
    {
        if (ShapedNetwork.Unavailable() is { } why)
        {
            Skip = $"No shaped network can be made here: {why}.";
        }
    }
}

public sealed class ShapedNetworkTests
{
    [ShapedNetworkFact]
    public async Task Create_TwoPods_ReachTheBridgeThroughTbfShapedLinksAndDisposeRemovesEverything()
    {
        string[] namespaces;
        await using (var network = await ShapedNetwork.Create(2, "200mbit", CancellationToken.None))
        {
            namespaces = [network.Namespace(0), network.Namespace(1)];
            Assert.All(namespaces, ns => Assert.Contains(ns, Run("ip", "netns", "list")));

            // Each pod's egress is shaped: its link carries a tbf qdisc at the rate.
            foreach (var ns in namespaces)
            {
                var qdisc = Run("ip", "netns", "exec", ns, "tc", "qdisc", "show");
                Assert.Contains("tbf", qdisc, StringComparison.Ordinal);
                Assert.Contains("rate 200Mbit", qdisc, StringComparison.Ordinal);
            }

            // A process in pod 1's namespace reaches a listener on the bridge's address.
            using var listener = new TcpListener(IPAddress.Parse(network.HostAddress), 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var accepted = listener.AcceptTcpClientAsync();
            Run("ip", "netns", "exec", namespaces[1], "bash", "-c", $"echo hello > /dev/tcp/{network.HostAddress}/{port}");
            using var client = await accepted.WaitAsync(TimeSpan.FromSeconds(30));
            using var reader = new StreamReader(client.GetStream());
            Assert.Equal("hello", await reader.ReadLineAsync());
        }

        Assert.All(namespaces, ns => Assert.DoesNotContain(ns, Run("ip", "netns", "list")));
    }

    [ShapedNetworkFact]
    public async Task Create_TwoNetworksAtOnceInOneProcess_GetTheirOwnNamespacesAndSubnets()
    {
        await using var first = await ShapedNetwork.Create(1, "200mbit", CancellationToken.None);
        await using var second = await ShapedNetwork.Create(1, "200mbit", CancellationToken.None);

        Assert.NotEqual(first.Namespace(0), second.Namespace(0));
        Assert.NotEqual(first.HostAddress, second.HostAddress);
        Assert.Contains(first.Namespace(0), Run("ip", "netns", "list"));
        Assert.Contains(second.Namespace(0), Run("ip", "netns", "list"));
    }

    private static string Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed: {output}");
        return output;
    }
}
