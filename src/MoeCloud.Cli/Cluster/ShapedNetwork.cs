using System.Diagnostics;
using System.Globalization;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// A network for a silo-process cluster whose links are shaped like an accelerator cluster's: one network namespace
/// per pod, each joined by a veth pair to a bridge that this object creates, with the egress of both ends of every
/// veth limited by <c>tc … tbf</c> to the given rate. (This kernel has <c>tbf</c>, not <c>netem</c>.) Only addresses on
/// the interfaces it creates are used: pods are 10.X.Y.1…, the bridge (where Redis and the benchmark's client live) is
/// 10.X.Y.254, with X.Y drawn at random among subnets no address here is in. Disposing deletes every namespace, link
/// and bridge it made.
/// Needs root and iproute2.
/// </summary>
public sealed class ShapedNetwork : IAsyncDisposable
{
    private readonly string _prefix;
    private readonly string _subnet;
    private readonly List<string> _namespaces = [];
    private bool _bridge;

    private ShapedNetwork(string prefix, string subnet, string rate)
    {
        _prefix = prefix;
        _subnet = subnet;
        Rate = rate;
    }

    /// <summary>The tbf rate of every link, as tc spells it (for example <c>400mbit</c>).</summary>
    public string Rate { get; }

    /// <summary>The bridge's address, in the root namespace.</summary>
    public string HostAddress => $"{_subnet}.254";

    /// <summary>Pod <paramref name="pod"/>'s address, inside its namespace.</summary>
    public string PodAddress(int pod) => string.Create(CultureInfo.InvariantCulture, $"{_subnet}.{pod + 1}");

    /// <summary>Pod <paramref name="pod"/>'s network namespace.</summary>
    public string Namespace(int pod) => string.Create(CultureInfo.InvariantCulture, $"{_prefix}n{pod}");

    /// <summary>Why a shaped network cannot be made here, or null when it can.</summary>
    public static string? Unavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "shaped networks need Linux network namespaces";
        }

        if (Environment.UserName != "root")
        {
            return $"shaped networks need root (ip netns, veth, tc); running as '{Environment.UserName}'";
        }

        return File.Exists("/usr/sbin/ip") || File.Exists("/sbin/ip") || File.Exists("/usr/bin/ip")
            ? File.Exists("/usr/sbin/tc") || File.Exists("/sbin/tc") ? null : "tc (iproute2) is not installed: apt-get install -y iproute2"
            : "ip (iproute2) is not installed: apt-get install -y iproute2";
    }

    /// <summary>Creates namespaces for <paramref name="pods"/> pods, linked at <paramref name="rate"/>.</summary>
    public static async Task<ShapedNetwork> Create(int pods, string rate, CancellationToken ct)
    {
        if (Unavailable() is { } why)
        {
            throw new InvalidOperationException(why);
        }

        if (pods is < 1 or > 200)
        {
            throw new ArgumentOutOfRangeException(nameof(pods), $"a shaped network holds 1 to 200 pods, not {pods}");
        }

        // Names and the subnet are drawn at random and checked against what exists: several networks may live at once
        // (tests in one process, benchmarks in others), and one that a killed run left behind must not be reused.
        for (var attempt = 1; ; attempt++)
        {
            var (prefix, subnet) = await Draw(ct);
            var network = new ShapedNetwork(prefix, subnet, rate);
            try
            {
                await network.Build(pods, ct);
                return network;
            }
            catch (InvalidOperationException e) when (attempt < DrawAttempts && e.Message.Contains("File exists", StringComparison.Ordinal))
            {
                await network.DisposeAsync(); // another process took the same draw between the check and the create
            }
            catch
            {
                await network.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Draws of a name prefix and subnet before a create gives up on collisions.</summary>
    private const int DrawAttempts = 5;

    /// <summary>
    /// A prefix (<c>mc</c> and five base-36 characters, so that <c>…h199</c> stays within the 15 characters of an
    /// interface name) no link or namespace uses, and a /24 in 10.200–249.x no address here is in.
    /// </summary>
    private static async Task<(string Prefix, string Subnet)> Draw(CancellationToken ct)
    {
        var links = await Output("ip", ct, "-o", "link", "show");
        var namespaces = await Output("ip", ct, "netns", "list");
        var addresses = await Output("ip", ct, "-o", "-4", "addr", "show");
        const string Digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        while (true)
        {
            var prefix = "mc" + string.Create(5, Random.Shared, (span, random) =>
            {
                for (var i = 0; i < span.Length; i++)
                {
                    span[i] = Digits[random.Next(Digits.Length)];
                }
            });
            var subnet = string.Create(CultureInfo.InvariantCulture, $"10.{Random.Shared.Next(200, 250)}.{Random.Shared.Next(0, 250)}");
            if (!links.Contains(prefix, StringComparison.Ordinal) && !namespaces.Contains(prefix, StringComparison.Ordinal)
                && !addresses.Contains($" {subnet}.", StringComparison.Ordinal))
            {
                return (prefix, subnet);
            }
        }
    }

    private async Task Build(int pods, CancellationToken ct)
    {
        var bridge = $"{_prefix}br";
        await Ip(ct, "link", "add", bridge, "type", "bridge");
        _bridge = true;
        await Ip(ct, "addr", "add", $"{HostAddress}/24", "dev", bridge);
        await Ip(ct, "link", "set", bridge, "up");
        for (var pod = 0; pod < pods; pod++)
        {
            var ns = Namespace(pod);
            string host = $"{_prefix}h{pod}", inside = $"{_prefix}p{pod}";
            await Ip(ct, "netns", "add", ns);
            _namespaces.Add(ns);
            await Ip(ct, "link", "add", host, "type", "veth", "peer", "name", inside);
            await Ip(ct, "link", "set", inside, "netns", ns);
            await Ip(ct, "link", "set", host, "master", bridge);
            await Ip(ct, "link", "set", host, "up");
            await Ip(ct, "-n", ns, "addr", "add", $"{PodAddress(pod)}/24", "dev", inside);
            await Ip(ct, "-n", ns, "link", "set", inside, "up");
            await Ip(ct, "-n", ns, "link", "set", "lo", "up");
            await Tc(ct, null, host, Rate);
            await Tc(ct, ns, inside, Rate);
        }
    }

    /// <summary>
    /// Cuts pod <paramref name="pod"/> off the network (<paramref name="up"/> false) or heals it: its veth's bridge end
    /// goes down or up (<c>ip link set … down|up</c>), so nothing reaches the pod and it reaches nothing, Redis included.
    /// </summary>
    public Task SetLink(int pod, bool up, CancellationToken ct)
    {
        if (pod < 0 || pod >= _namespaces.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(pod), $"this network has pods 0 to {_namespaces.Count - 1}, not {pod}");
        }

        return Ip(ct, "link", "set", string.Create(CultureInfo.InvariantCulture, $"{_prefix}h{pod}"), up ? "up" : "down");
    }

    /// <summary>Runs <paramref name="file"/> inside pod <paramref name="pod"/>'s namespace.</summary>
    public ProcessStartInfo InNamespace(int pod, string file, IEnumerable<string> args) => new("ip", ["netns", "exec", Namespace(pod), file, .. args]);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var ns in _namespaces)
        {
            await Run("ip", CancellationToken.None, check: false, "netns", "del", ns); // removes the veth pair with it
        }

        _namespaces.Clear();
        if (_bridge)
        {
            await Run("ip", CancellationToken.None, check: false, "link", "del", $"{_prefix}br");
            _bridge = false;
        }
    }

    private static Task Tc(CancellationToken ct, string? ns, string device, string rate)
    {
        // A burst of 64 KiB lets one layer message's packets leave back to back; the queue holds 50 ms at the rate.
        string[] args = ["qdisc", "add", "dev", device, "root", "tbf", "rate", rate, "burst", "64kb", "latency", "50ms"];
        return ns is null ? Run("tc", ct, check: true, args) : Run("ip", ct, check: true, ["netns", "exec", ns, "tc", .. args]);
    }

    private static Task Ip(CancellationToken ct, params string[] args) => Run("ip", ct, check: true, args);

    private static async Task<string> Output(string file, CancellationToken ct, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })
            ?? throw new InvalidOperationException($"could not start {file}");
        var error = process.StandardError.ReadToEndAsync(ct);
        var output = await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {(await error).Trim()}");
    }

    private static async Task Run(string file, CancellationToken ct, bool check, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false })
            ?? throw new InvalidOperationException($"could not start {file}");
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.StandardOutput.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (check && process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {(await error).Trim()}");
        }
    }
}
