namespace MoeCloud.Cli.Cluster;

/// <summary>
/// The Linux bridge behind a podman network. A bridge whose address was never set takes the lowest address of its ports,
/// so when the container whose port had it leaves (killed or stopped), the bridge's MAC address changes. The containers
/// still hold the old one in their neighbour tables, and what they send to the host (the bridge's IP, where moectl's
/// client sits) goes nowhere until those entries expire: measured, about 10 s of the gateway container's replies lost
/// after a silo container stopped, so that every request in flight missed its deadline. A bridge whose address was set
/// keeps it, so <see cref="Pin"/> sets it once, to the one it has. Where the bridge is created with its address set
/// already (<c>addr_assign_type</c> 3: Linux 6.18 with podman 4.3), it never followed its ports and the pin changes nothing.
/// </summary>
public static class PodmanBridge
{
    /// <summary>The bridge interface of <paramref name="network"/> (it exists once a container is attached).</summary>
    public static Task<string> Interface(string network, CancellationToken ct) =>
        Podman.Run(["network", "inspect", network, "--format", "{{.NetworkInterface}}"], ct);

    /// <summary>The MAC address of interface <paramref name="name"/> (from sysfs); null when there is none.</summary>
    public static string? Address(string name)
    {
        var path = Path.Combine("/sys/class/net", name, "address");
        return name.Length > 0 && !name.Contains('/', StringComparison.Ordinal) && File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }

    /// <summary>
    /// Sets the bridge of <paramref name="network"/> to the address it has, so that containers leaving do not change it.
    /// Needs root (podman's rootful networks); returns why it could not, or null when done.
    /// </summary>
    public static async Task<string?> Pin(string network, CancellationToken ct)
    {
        var name = await Interface(network, ct);
        if (Address(name) is not { } mac)
        {
            return $"podman network {network} has no bridge interface here ('{name}')";
        }

        var (code, _, stderr) = await Podman.TryRunTool("ip", ["link", "set", "dev", name, "address", mac], ct);
        return code == 0 ? null : $"ip link set dev {name} address {mac} exited with {code}: {stderr.Trim()}";
    }
}
