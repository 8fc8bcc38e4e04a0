namespace MoeCloud.Placement.Simulation;

/// <summary>The slowest pod pair of a layer's all-to-all (MoETuner's tail objective).</summary>
/// <param name="Layer">Layer.</param>
/// <param name="From">The home pod whose tokens go out.</param>
/// <param name="To">The pod that serves them and sends the results back.</param>
/// <param name="Bytes">Bytes of the pair: dispatch From → To plus combine To → From.</param>
/// <param name="Seconds">The pair's time: one dispatch message plus one combine message (<see cref="LinkModel.MessageSeconds"/> each).</param>
public sealed record PairTail(int Layer, int From, int To, long Bytes, double Seconds);

/// <summary>One layer's predicted all-to-all.</summary>
/// <param name="Layer">Layer.</param>
/// <param name="Bytes">Bytes on the wire in the layer, dispatch and combine.</param>
/// <param name="DispatchSeconds">The dispatch all-to-all: max over pods of max(send time, receive time).</param>
/// <param name="CombineSeconds">The combine all-to-all, the same way.</param>
/// <param name="Tail">The layer's slowest pod pair, or null when nothing crossed pods.</param>
public sealed record LayerTime(int Layer, long Bytes, double DispatchSeconds, double CombineSeconds, PairTail? Tail)
{
    /// <summary>Dispatch + combine.</summary>
    public double Seconds => DispatchSeconds + CombineSeconds;
}

/// <summary>What <see cref="TimeModel.Predict"/> predicts for a replay on a link.</summary>
/// <param name="Link">Link name (preset or the parsed text).</param>
/// <param name="GigabytesPerSecond">Link bandwidth, GB/s.</param>
/// <param name="LatencyMicroseconds">Latency per message, µs.</param>
/// <param name="Hidden">Hidden size.</param>
/// <param name="BytesPerElement">Bytes per element of a hidden state (2 for bf16).</param>
/// <param name="Seconds">Sum over layers of dispatch + combine: the replayed tokens' communication as one batch.</param>
/// <param name="MeanLayerSeconds">Mean over layers.</param>
/// <param name="MaxLayerSeconds">The slowest layer's dispatch + combine.</param>
/// <param name="Tail">The slowest pod pair over all layers, or null when nothing crossed pods.</param>
/// <param name="Layers">Every layer.</param>
public sealed record TimePrediction(
    string Link,
    double GigabytesPerSecond,
    double LatencyMicroseconds,
    int Hidden,
    int BytesPerElement,
    double Seconds,
    double MeanLayerSeconds,
    double MaxLayerSeconds,
    PairTail? Tail,
    IReadOnlyList<LayerTime> Layers);

/// <summary>
/// Predicts each layer's dispatch and combine time from the bytes each pod pair exchanges (what-if in seconds).
/// The model, per layer and per phase (dispatch, then combine, which waits for the experts):
/// <list type="number">
/// <item>every pod sends one message to each pod it has data for (<c>bytes = transfers × hidden × dtype bytes</c>);</item>
/// <item>a pod's link is full duplex and serialises its messages: its send time is the sum over its messages of
/// <c>latency + bytes / bandwidth</c>, its receive time the same over the messages it receives;</item>
/// <item>the phase ends when the busiest pod is done: max over pods of max(send, receive).</item>
/// </list>
/// Expert compute, overlap of the two phases and contention inside the network are not modelled; the time is the
/// replayed tokens' communication as one batch. Pure: no clocks, no I/O.
/// </summary>
public static class TimeModel
{
    /// <summary>Predicts <paramref name="traffic"/>'s time on <paramref name="link"/> for hidden states of <paramref name="hidden"/> × <paramref name="bytesPerElement"/> bytes.</summary>
    public static TimePrediction Predict(PodTraffic traffic, LinkModel link, int hidden, int bytesPerElement)
    {
        ArgumentNullException.ThrowIfNull(traffic);
        ArgumentNullException.ThrowIfNull(link);
        if (hidden <= 0 || bytesPerElement <= 0)
        {
            throw new ArgumentException($"hidden size and bytes per element must be positive (got {hidden} and {bytesPerElement}).");
        }

        if (!double.IsFinite(link.BytesPerSecond) || link.BytesPerSecond <= 0 || !double.IsFinite(link.LatencySeconds) || link.LatencySeconds < 0)
        {
            throw new ArgumentException($"link '{link.Name}' needs a positive bandwidth and a latency >= 0.", nameof(link));
        }

        var state = (long)hidden * bytesPerElement;
        int pods = traffic.Pods;
        var layers = new LayerTime[traffic.Layers];
        var send = new double[pods];
        var receive = new double[pods];
        PairTail? worst = null;
        for (var l = 0; l < traffic.Layers; l++)
        {
            // 1. Each phase: per pod, serialised sends and receives; the phase is the busiest pod's.
            var dispatch = Phase((a, b) => traffic.Dispatches(l, a, b) * state);
            var combine = Phase((a, b) => traffic.Combines(l, a, b) * state);

            // 2. The tail: the pair whose dispatch out and combine back take longest (ties: lowest from, then to).
            PairTail? tail = null;
            long bytes = 0;
            for (var a = 0; a < pods; a++)
            {
                for (var b = 0; b < pods; b++)
                {
                    if (a == b)
                    {
                        continue;
                    }

                    long there = traffic.Dispatches(l, a, b) * state, back = traffic.Combines(l, b, a) * state;
                    bytes += there + traffic.Combines(l, a, b) * state;
                    var seconds = link.MessageSeconds(there) + link.MessageSeconds(back);
                    if (there + back > 0 && (tail is null || seconds > tail.Seconds))
                    {
                        tail = new PairTail(l, a, b, there + back, seconds);
                    }
                }
            }

            layers[l] = new LayerTime(l, bytes, dispatch, combine, tail);
            if (tail is not null && (worst is null || tail.Seconds > worst.Seconds))
            {
                worst = tail;
            }
        }

        var total = layers.Sum(t => t.Seconds);
        return new TimePrediction(
            link.Name,
            link.GigabytesPerSecond,
            link.LatencyMicroseconds,
            hidden,
            bytesPerElement,
            total,
            layers.Length == 0 ? 0 : total / layers.Length,
            layers.Length == 0 ? 0 : layers.Max(t => t.Seconds),
            worst,
            layers);

        double Phase(Func<int, int, long> bytesOf)
        {
            Array.Clear(send);
            Array.Clear(receive);
            for (var a = 0; a < pods; a++)
            {
                for (var b = 0; b < pods; b++)
                {
                    if (a != b)
                    {
                        var seconds = link.MessageSeconds(bytesOf(a, b));
                        send[a] += seconds;
                        receive[b] += seconds;
                    }
                }
            }

            var busiest = 0.0;
            for (var p = 0; p < pods; p++)
            {
                busiest = Math.Max(busiest, Math.Max(send[p], receive[p]));
            }

            return busiest;
        }
    }
}
