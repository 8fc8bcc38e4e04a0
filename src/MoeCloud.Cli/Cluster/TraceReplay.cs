using System.Diagnostics;
using System.Globalization;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Cli.Cluster;

/// <summary>One request of a replay: up to N consecutive tokens of one sequence, with forced routing.</summary>
/// <param name="Tokens">Token indices into the trace.</param>
/// <param name="Hidden">Input hidden states <c>[tokens, hidden]</c>.</param>
/// <param name="Ids">Forced expert ids <c>[tokens, layers, topK]</c>.</param>
/// <param name="Weights">Forced combine weights, same shape.</param>
/// <param name="SequenceId">The trace sequence the tokens belong to (the gateway's sequence affinity).</param>
public sealed record ReplayRequest(int[] Tokens, float[] Hidden, int[] Ids, float[] Weights, string SequenceId);

/// <summary>What a replay through the gateway measured.</summary>
/// <param name="Outputs">Output hidden states per request (null where the request failed).</param>
/// <param name="Homes">The pod that served each token of each request, as the gateway reports it (null where the request failed).</param>
/// <param name="LatenciesMs">Latency per completed request, milliseconds.</param>
/// <param name="Seconds">Wall time of the whole replay.</param>
/// <param name="Local">Local dispatches.</param>
/// <param name="Remote">Remote dispatches.</param>
/// <param name="Failed">Requests that failed.</param>
/// <param name="Started">Stopwatch timestamp of the replay's start.</param>
/// <param name="Completed">Stopwatch timestamp at which each request completed (0 where it failed).</param>
public sealed record ReplayOutcome(float[]?[] Outputs, int[]?[] Homes, double[] LatenciesMs, double Seconds, long Local, long Remote, int Failed, long Started, long[] Completed)
{
    /// <summary>Tokens per second of the requests that completed between two Stopwatch timestamps.</summary>
    public double TokensPerSecondBetween(IReadOnlyList<ReplayRequest> requests, long from, long to)
    {
        ArgumentNullException.ThrowIfNull(requests);
        long tokens = 0;
        for (var i = 0; i < Completed.Length; i++)
        {
            if (Completed[i] >= from && Completed[i] <= to)
            {
                tokens += requests[i].Tokens.Length;
            }
        }

        return tokens / Math.Max(1e-9, Stopwatch.GetElapsedTime(from, to).TotalSeconds);
    }

    /// <summary>
    /// The home of every trace token of <paramref name="requests"/> (which must cover <paramref name="tokens"/> tokens
    /// once each), for replaying the gateway's choices in the simulator; null when a request failed.
    /// </summary>
    public int[]? HomesByToken(IReadOnlyList<ReplayRequest> requests, int tokens)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var homes = new int[tokens];
        Array.Fill(homes, -1);
        for (var i = 0; i < requests.Count; i++)
        {
            if (Homes[i] is not { } served)
            {
                return null;
            }

            for (var j = 0; j < served.Length; j++)
            {
                homes[requests[i].Tokens[j]] = served[j];
            }
        }

        return homes.Contains(-1) ? throw new InvalidOperationException($"the replay's requests do not cover all {tokens} tokens") : homes;
    }
}

/// <summary>
/// Replays requests through the gateway's own request path (<see cref="GatewayForwarder"/>: homes from the
/// pre-scheduler, token shuffling, one sub-batch per home pod, reassembly in order), so a benchmark measures the product.
/// </summary>
public static class TraceReplay
{
    /// <summary>
    /// Builds requests of at most <paramref name="tokensPerRequest"/> consecutive tokens of a sequence; each request's
    /// input is seeded by (<paramref name="seed"/>, its first token) through <see cref="RemoteReplica.TieHash"/>, so it is the
    /// same in every process.
    /// </summary>
    public static IReadOnlyList<ReplayRequest> Build(RoutingTrace trace, int hidden, int tokensPerRequest, int seed)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var weights = trace.GateWeights ?? throw new InvalidDataException("a replay needs gate weights in the trace");
        var requests = new List<ReplayRequest>();
        var stride = trace.Layers * trace.TopK;
        foreach (var sequence in trace.Sequences)
        {
            foreach (var chunk in sequence.Tokens.Chunk(tokensPerRequest))
            {
                var rng = new Random((int)RemoteReplica.TieHash((uint)seed, (uint)chunk[0], 0, 0));
                var h = new float[chunk.Length * hidden];
                for (var i = 0; i < h.Length; i++)
                {
                    h[i] = (float)((rng.NextDouble() * 2) - 1);
                }

                var ids = new int[chunk.Length * stride];
                var w = new float[ids.Length];
                for (var i = 0; i < chunk.Length; i++)
                {
                    for (var j = 0; j < stride; j++)
                    {
                        ids[(i * stride) + j] = trace.ExpertIds[(chunk[i] * stride) + j];
                        w[(i * stride) + j] = weights[(chunk[i] * stride) + j];
                    }
                }

                requests.Add(new ReplayRequest(chunk, h, ids, w, sequence.Id.ToString(CultureInfo.InvariantCulture)));
            }
        }

        return requests;
    }

    /// <summary>
    /// Sends every request through <paramref name="forwarder"/> with at most <paramref name="concurrency"/> in flight,
    /// each with <paramref name="deadline"/> to finish; per-request failures are counted, not thrown.
    /// </summary>
    public static async Task<ReplayOutcome> Run(GatewayForwarder forwarder, string model, int layers, int topK, IReadOnlyList<ReplayRequest> requests, int concurrency, TimeSpan deadline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(forwarder);
        ArgumentNullException.ThrowIfNull(requests);
        var outputs = new float[]?[requests.Count];
        var homes = new int[]?[requests.Count];
        var latencies = new double[requests.Count];
        var completed = new long[requests.Count];
        long local = 0, remote = 0;
        var failed = 0;
        var next = -1;
        var started = Stopwatch.GetTimestamp();
        async Task Worker()
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests.Count)
            {
                var request = requests[i];
                var step = new GatewayStep(model, 0, layers - 1, request.Tokens.Length, request.Hidden, request.Ids, request.Weights, topK, request.SequenceId, LayerApi: false);
                var begin = Stopwatch.GetTimestamp();
                try
                {
                    var result = await forwarder.Forward(step, DateTime.UtcNow + deadline, ct);
                    completed[i] = Stopwatch.GetTimestamp();
                    outputs[i] = result.Hidden;
                    homes[i] = result.Homes;
                    Interlocked.Add(ref local, result.Local);
                    Interlocked.Add(ref remote, result.Remote);
                    latencies[i] = Stopwatch.GetElapsedTime(begin, completed[i]).TotalMilliseconds;
                }
                catch (Exception e) when (e is GatewayException or Grpc.Core.RpcException)
                {
                    Interlocked.Increment(ref failed);
                    latencies[i] = double.NaN;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Max(1, concurrency)).Select(_ => Worker()));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return new ReplayOutcome(outputs, homes, latencies.Where(double.IsFinite).ToArray(), seconds, local, remote, failed, started, completed);
    }
}
