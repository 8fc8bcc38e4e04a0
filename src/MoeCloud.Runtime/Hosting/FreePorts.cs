using System.Net;
using System.Net.Sockets;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Picks free loopback TCP ports for servers a local cluster or a test starts. A port is only checked, not held, so
/// bind it soon. The ports come from below the kernel's ephemeral range (on Linux,
/// <c>/proc/sys/net/ipv4/ip_local_port_range</c>): a port the OS hands out (port 0) is one that the next outgoing
/// connection of any process may take as its local port before the server binds it, which on a busy machine made
/// silo processes fail with "address already in use". Below the range only other servers compete, and the pick is
/// random and never repeats within this process. Where the range cannot be read or leaves too little room below it,
/// the OS assigns the ports, as before.
/// </summary>
public static class FreePorts
{
    private const int Lowest = 10000;
    private const int MinimumRoom = 2000;
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Given = [];
    private static readonly int EphemeralLow = ReadEphemeralLow();

    /// <summary><paramref name="count"/> distinct free ports.</summary>
    public static int[] Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (EphemeralLow - Lowest < MinimumRoom)
        {
            return TakeFromOs(count);
        }

        var ports = new List<int>(count);
        lock (Gate)
        {
            for (var tries = 0; ports.Count < count && tries < 100 * (count + 1); tries++)
            {
                var port = Random.Shared.Next(Lowest, EphemeralLow);
                if (!Given.Contains(port) && IsFree(port))
                {
                    Given.Add(port);
                    ports.Add(port);
                }
            }
        }

        return ports.Count == count ? [.. ports] : [.. ports, .. TakeFromOs(count - ports.Count)];
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int[] TakeFromOs(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var l in listeners)
            {
                l.Start();
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Stop();
            }
        }
    }

    /// <summary>The low end of the kernel's ephemeral port range; 0 where it cannot be read.</summary>
    private static int ReadEphemeralLow()
    {
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return text.Length > 0 && int.TryParse(text[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var low) ? low : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }
}
