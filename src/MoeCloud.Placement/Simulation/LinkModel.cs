using System.Globalization;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// A link between two pods for the time model: bandwidth in bytes per second and a fixed latency per message.
/// One message from pod a to pod b of n bytes takes <c>Latency + n / Bandwidth</c> seconds.
/// </summary>
/// <param name="Name">Preset name, or the text it was parsed from.</param>
/// <param name="BytesPerSecond">Bandwidth of one pod's link, each direction (full duplex), in bytes per second.</param>
/// <param name="LatencySeconds">Fixed cost of one message, in seconds.</param>
public sealed record LinkModel(string Name, double BytesPerSecond, double LatencySeconds)
{
    /// <summary>
    /// The named links: NVLink-class inside a node, 400 Gb/s InfiniBand and 100 Gb/s Ethernet between nodes, and
    /// <c>loopback</c>, this runtime's pods on one machine: 2 GB/s and 25 µs, from <c>moectl bench datapath</c>'s Orleans
    /// echo on the 2-core machine of docs/BENCHMARKS.md (one layer's dispatch and combine to each of 3 pods took 0.17 ms
    /// at 16 tokens and 0.49 ms at 256; the difference is the bandwidth, the rest over 6 messages the latency).
    /// </summary>
    public static IReadOnlyDictionary<string, LinkModel> Presets { get; } = new Dictionary<string, LinkModel>(StringComparer.Ordinal)
    {
        ["nvlink"] = new("nvlink", 450e9, 2e-6),
        ["ib400"] = new("ib400", 50e9, 5e-6),
        ["eth100"] = new("eth100", 12.5e9, 20e-6),
        ["loopback"] = new("loopback", 2e9, 25e-6),
    };

    /// <summary>Bandwidth in GB/s (10⁹ bytes per second).</summary>
    public double GigabytesPerSecond => BytesPerSecond / 1e9;

    /// <summary>Latency in microseconds.</summary>
    public double LatencyMicroseconds => LatencySeconds * 1e6;

    /// <summary>Seconds to send one message of <paramref name="bytes"/> bytes; 0 for no bytes (no message is sent).</summary>
    public double MessageSeconds(long bytes) => bytes <= 0 ? 0 : LatencySeconds + (bytes / BytesPerSecond);

    /// <summary>
    /// Parses a preset name (<c>nvlink</c>, <c>ib400</c>, <c>eth100</c>, <c>loopback</c>) or <c>&lt;GB/s&gt;,&lt;µs&gt;</c>, for example
    /// <c>25,3.5</c>; throws <see cref="ArgumentException"/> saying what is wrong and what is accepted.
    /// </summary>
    public static LinkModel Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        if (Presets.TryGetValue(trimmed, out var preset))
        {
            return preset;
        }

        var accepted = $"a preset ({string.Join(", ", Presets.Keys)}) or <GB/s>,<µs> such as 50,5";
        var parts = trimmed.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2)
        {
            throw new ArgumentException(parts.Length == 1 && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                ? $"link '{text}' gives a bandwidth but no latency; give {accepted}."
                : $"link '{text}' is not {accepted}.", nameof(text));
        }

        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var gbps) || !double.IsFinite(gbps) || gbps <= 0)
        {
            throw new ArgumentException($"link '{text}': bandwidth must be a positive number of GB/s, got '{parts[0]}'.", nameof(text));
        }

        if (!double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var micros) || !double.IsFinite(micros) || micros < 0)
        {
            throw new ArgumentException($"link '{text}': latency must be a number of µs >= 0, got '{parts[1]}'.", nameof(text));
        }

        return new LinkModel(trimmed, gbps * 1e9, micros * 1e-6);
    }
}
