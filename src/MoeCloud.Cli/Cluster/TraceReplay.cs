using System.Diagnostics;
using Grpc.Net.Client;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Traces;
using MoeCloud.Runtime.Api;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>One request of a replay: up to N consecutive tokens of one sequence, with forced routing and a home per token.</summary>
/// <param name="Tokens">Token indices into the trace.</param>
/// <param name="Hidden">Input hidden states <c>[tokens, hidden]</c>.</param>
/// <param name="Ids">Forced expert ids <c>[tokens, layers, topK]</c>.</param>
/// <param name="Weights">Forced combine weights, same shape.</param>
/// <param name="Homes">Home pod per token.</param>
public sealed record ReplayRequest(int[] Tokens, float[] Hidden, int[] Ids, float[] Weights, int[] Homes);

/// <summary>What a replay through a cluster measured.</summary>
/// <param name="Outputs">Output hidden states per request (null where the request failed).</param>
/// <param name="LatenciesMs">Latency per completed request, milliseconds.</param>
/// <param name="Seconds">Wall time of the whole replay.</param>
/// <param name="Local">Local dispatches.</param>
/// <param name="Remote">Remote dispatches.</param>
/// <param name="Failed">Requests that failed.</param>
/// <param name="Started">Stopwatch timestamp of the replay's start.</param>
/// <param name="Completed">Stopwatch timestamp at which each request completed (0 where it failed).</param>
public sealed record ReplayOutcome(float[]?[] Outputs, double[] LatenciesMs, double Seconds, long Local, long Remote, int Failed, long Started, long[] Completed)
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
}

/// <summary>
/// Replays requests through a local cluster the way the gateway does (token shuffling, DESIGN.md §2): each request is
/// split by home pod, every sub-batch goes to its home pod's runner at once, and the results are put back in order.
/// </summary>
public static class TraceReplay
{
    /// <summary>Builds requests of at most <paramref name="tokensPerRequest"/> consecutive tokens of a sequence.</summary>
    public static IReadOnlyList<ReplayRequest> Build(RoutingTrace trace, int[] homes, int hidden, int tokensPerRequest, int seed)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(homes);
        var weights = trace.GateWeights ?? throw new InvalidDataException("a replay needs gate weights in the trace");
        var requests = new List<ReplayRequest>();
        var stride = trace.Layers * trace.TopK;
        foreach (var sequence in trace.Sequences)
        {
            foreach (var chunk in sequence.Tokens.Chunk(tokensPerRequest))
            {
                var rng = new Random(HashCode.Combine(seed, chunk[0]));
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

                requests.Add(new ReplayRequest(chunk, h, ids, w, chunk.Select(t => homes[t]).ToArray()));
            }
        }

        return requests;
    }

    /// <summary>Sends every request with at most <paramref name="concurrency"/> in flight; per-request failures are counted, not thrown.</summary>
    public static async Task<ReplayOutcome> Run(ILocalCluster cluster, string model, int layers, int topK, int hidden, IReadOnlyList<ReplayRequest> requests, int concurrency, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(requests);
        var channels = cluster.Endpoints.Select(e => GrpcChannel.ForAddress(e.Runner)).ToArray();
        try
        {
            var clients = channels.Select(c => new MoeService.MoeServiceClient(c)).ToArray();
            var outputs = new float[]?[requests.Count];
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
                    var begin = Stopwatch.GetTimestamp();
                    try
                    {
                        var (output, l, r) = await Send(clients, model, layers, topK, hidden, requests[i], ct);
                        outputs[i] = output;
                        Interlocked.Add(ref local, l);
                        Interlocked.Add(ref remote, r);
                        completed[i] = Stopwatch.GetTimestamp();
                        latencies[i] = Stopwatch.GetElapsedTime(begin, completed[i]).TotalMilliseconds;
                    }
                    catch (Grpc.Core.RpcException)
                    {
                        Interlocked.Increment(ref failed);
                        latencies[i] = double.NaN;
                    }
                }
            }

            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, concurrency)).Select(_ => Worker()));
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            return new ReplayOutcome(outputs, latencies.Where(double.IsFinite).ToArray(), seconds, local, remote, failed, started, completed);
        }
        finally
        {
            foreach (var c in channels)
            {
                c.Dispose();
            }
        }
    }

    private static async Task<(float[] Output, long Local, long Remote)> Send(MoeService.MoeServiceClient[] clients, string model, int layers, int topK, int hidden, ReplayRequest request, CancellationToken ct)
    {
        var stride = layers * topK;
        var output = new float[request.Tokens.Length * hidden];
        var byPod = Enumerable.Range(0, request.Tokens.Length).GroupBy(i => request.Homes[i]).ToArray();
        var calls = byPod.Select(async group =>
        {
            var rows = group.ToArray();
            var h = new float[rows.Length * hidden];
            var ids = new int[rows.Length * stride];
            var w = new float[ids.Length];
            for (var j = 0; j < rows.Length; j++)
            {
                Array.Copy(request.Hidden, rows[j] * hidden, h, j * hidden, hidden);
                Array.Copy(request.Ids, rows[j] * stride, ids, j * stride, stride);
                Array.Copy(request.Weights, rows[j] * stride, w, j * stride, stride);
            }

            var response = await clients[group.Key].ForwardAsync(
                new ForwardRequest { Model = model, FirstLayer = 0, LastLayer = layers - 1, Hidden = TensorCodec.WriteMatrix(h, rows.Length, hidden), Routing = TensorCodec.WriteRouting(ids, w, topK) },
                cancellationToken: ct);
            var values = TensorCodec.ReadMatrix(response.Hidden).Values;
            for (var j = 0; j < rows.Length; j++)
            {
                Array.Copy(values, j * hidden, output, rows[j] * hidden, hidden);
            }

            return (response.LocalDispatches, response.RemoteDispatches);
        }).ToArray();
        var counts = await Task.WhenAll(calls);
        return (output, counts.Sum(c => c.LocalDispatches), counts.Sum(c => c.RemoteDispatches));
    }
}
