using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Core;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Steps;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Forwarding;

/// <summary>A request step as the gateway receives it (from gRPC or JSON).</summary>
/// <param name="Model">Model.</param>
/// <param name="FirstLayer">First MoE layer.</param>
/// <param name="LastLayer">Last MoE layer.</param>
/// <param name="Tokens">Tokens.</param>
/// <param name="Hidden">Hidden states <c>[tokens, hidden]</c>.</param>
/// <param name="ForcedIds">Forced routing ids <c>[tokens, layers, topK]</c> or null.</param>
/// <param name="ForcedWeights">Forced routing weights or null.</param>
/// <param name="ForcedTopK">Forced routing top-k.</param>
/// <param name="SequenceId">Sequence id (affinity, previous step), or null.</param>
/// <param name="LayerApi">True for the layer API (one layer, no norm or residual).</param>
public sealed record GatewayStep(string Model, int FirstLayer, int LastLayer, int Tokens, float[] Hidden, int[]? ForcedIds, float[]? ForcedWeights, int ForcedTopK, string? SequenceId, bool LayerApi);

/// <summary>The reassembled result.</summary>
/// <param name="Hidden">Output hidden states in the original token order.</param>
/// <param name="Local">Local dispatches.</param>
/// <param name="Remote">Remote dispatches.</param>
/// <param name="PlanVersion">Plan version the pods ran with (the lowest if they differed).</param>
/// <param name="Homes">The pod that served each token (its chosen home, or the pod a retry moved it to).</param>
/// <param name="BestHomes">Best home in hindsight per token.</param>
public sealed record GatewayResult(float[] Hidden, long Local, long Remote, int PlanVersion, int[] Homes, int[] BestHomes);

/// <summary>
/// The gateway's request path: validate, choose each token's home (token shuffling), forward each sub-batch to its home
/// pod's runner, retry a sub-batch on another pod when its pod is unavailable (forwarding is idempotent) while the
/// <see cref="RetryBudget"/> allows, reassemble in order, and score the homes against the best homes in hindsight.
/// </summary>
public sealed class GatewayForwarder(GatewayModels models, PodDirectory pods, WarmupHints hints, RetryBudget budget, GatewayMetrics metrics, ServingMonitor serving, IOptions<GatewayOptions> options)
{
    /// <summary>Serves one step before <paramref name="deadline"/>.</summary>
    public async Task<GatewayResult> Forward(GatewayStep step, DateTime deadline, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(step);
        var scheduler = models.Find(step.Model) ?? throw new GatewayException(StatusCode.NotFound, $"Model '{step.Model}' is not served (served: {string.Join(", ", models.Names.Order(StringComparer.Ordinal))}).");
        var spec = scheduler.Gates.Spec;
        if (step.Tokens > options.Value.MaxTokensPerRequest)
        {
            throw new GatewayException(StatusCode.ResourceExhausted, $"The request holds {step.Tokens} tokens; at most {options.Value.MaxTokensPerRequest} per request.");
        }

        try
        {
            StepValidator.Check(new StepRequest(step.Model, step.FirstLayer, step.LastLayer, step.Tokens, step.Hidden, step.ForcedIds, step.ForcedWeights, step.ForcedTopK, !step.LayerApi), spec);
        }
        catch (StepException e)
        {
            throw new GatewayException(e.Error == StepError.ResourceExhausted ? StatusCode.ResourceExhausted : StatusCode.InvalidArgument, e.Message);
        }

        // A valid step is accepted: it counts in the queue depth until it is answered (served or failed).
        using var accepted = serving.Begin(step.Model, step.Tokens);
        var result = await Route(step, scheduler, deadline, ct);
        accepted.Served();
        return result;
    }

    /// <summary>
    /// How long a step waits for a pod when the gateway knows none: a gateway that has just started (or restarted)
    /// listens before its first membership read has found the pods, and a step that failed at once there would cost
    /// the client's retry budget for every call the restart took. Past this (or the step's deadline) it fails.
    /// </summary>
    internal static readonly TimeSpan NoPodWait = TimeSpan.FromSeconds(5);

    private async Task<IReadOnlyList<int>> WaitForPods(DateTime deadline, CancellationToken ct)
    {
        var start = DateTime.UtcNow;
        var until = deadline < start + NoPodWait ? deadline : start + NoPodWait;
        while (DateTime.UtcNow < until)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), ct);
            if (pods.Available() is { Count: > 0 } available)
            {
                return available;
            }
        }

        throw new GatewayException(StatusCode.Unavailable, string.Create(CultureInfo.InvariantCulture, $"No pod is available (none within {(DateTime.UtcNow - start).TotalSeconds:F1} s)."));
    }

    private async Task<GatewayResult> Route(GatewayStep step, PreScheduler scheduler, DateTime deadline, CancellationToken ct)
    {
        var spec = scheduler.Gates.Spec;
        int n = step.Tokens, h = spec.Hidden, k = spec.TopK, layers = step.LastLayer - step.FirstLayer + 1, stride = layers * k;
        short[]? forcedFirst = null;
        if (step.ForcedIds is { } forced)
        {
            forcedFirst = new short[n * k];
            for (var t = 0; t < n; t++)
            {
                for (var s = 0; s < k; s++)
                {
                    forcedFirst[(t * k) + s] = (short)forced[(t * stride) + s];
                }
            }
        }

        var available = pods.Available();
        if (available.Count == 0)
        {
            available = await WaitForPods(deadline, ct);
        }

        var choice = scheduler.Choose(step.FirstLayer, step.Hidden, normalized: step.LayerApi, n, forcedFirst, step.SequenceId, available, pods.InFlight);
        metrics.WarmupHints.WithLabels(step.Model).Inc(hints.Send(step.Model, choice.Plan, step.FirstLayer, choice.Known, choice.Homes, k));
        var output = new float[n * h];
        var best = new int[n];
        var routing = new short[n * stride];
        var groups = Enumerable.Range(0, n).GroupBy(t => choice.Homes[t]).ToArray();
        metrics.HomedSteps.WithLabels(step.Model, groups.Length > 1 ? "split" : "whole").Inc();
        var results = await Task.WhenAll(groups.Select(g => SendGroup(step, g.Key, g.ToArray(), h, stride, choice.Gate, k, deadline, ct)));
        long local = 0, remote = 0;
        var version = int.MaxValue;
        var served = (int[])choice.Homes.Clone();
        foreach (var (rows, response, pod) in results)
        {
            foreach (var row in rows)
            {
                served[row] = pod;
            }

            var values = MemoryMarshal.Cast<byte, float>(response.Hidden.Data.Span);
            var ids = MemoryMarshal.Cast<byte, short>(response.ExpertIds.Span);
            for (var j = 0; j < rows.Length; j++)
            {
                values.Slice(j * h, h).CopyTo(output.AsSpan(rows[j] * h, h));
                best[rows[j]] = j < response.BestHomes.Count ? response.BestHomes[j] : -1;
                if (ids.Length == rows.Length * stride)
                {
                    ids.Slice(j * stride, stride).CopyTo(routing.AsSpan(rows[j] * stride, stride));
                }
            }

            local += response.LocalDispatches;
            remote += response.RemoteDispatches;
            version = Math.Min(version, response.PlanVersion);
        }

        if (!step.LayerApi && step.FirstLayer == 0 && step.LastLayer == spec.MoeLayers - 1)
        {
            scheduler.Observe(choice.Homes, best, routing, step.SequenceId);
            var hits = choice.Homes.Zip(best).Count(p => p.First == p.Second);
            metrics.Predictions.WithLabels(step.Model, "hit").Inc(hits);
            metrics.Predictions.WithLabels(step.Model, "miss").Inc(n - hits);
        }

        metrics.Tokens.WithLabels(step.Model).Inc(n);
        metrics.Dispatches.WithLabels(step.Model, "local").Inc(local);
        metrics.Dispatches.WithLabels(step.Model, "remote").Inc(remote);
        return new GatewayResult(output, local, remote, version == int.MaxValue ? 0 : version, served, best);
    }

    /// <summary>
    /// Sends one home's rows. When the gateway computed the first layer's gate to choose the homes, the rows' share of
    /// it travels along (<c>gate_routing</c>), so that the home does not compute that gate again. The hidden states and
    /// routing are gathered once into arrays that the messages wrap without another copy.
    /// </summary>
    private async Task<(int[] Rows, ForwardResponse Response, int Pod)> SendGroup(GatewayStep step, int home, int[] rows, int h, int stride, GateDecision? gate, int k, DateTime deadline, CancellationToken ct)
    {
        // A home that takes every token, in order (least-requests, per-request homes), is sent the step's own arrays.
        var whole = rows.Length == step.Tokens;
        for (var j = 0; whole && j < rows.Length; j++)
        {
            whole = rows[j] == j;
        }

        var hidden = whole ? step.Hidden : new float[rows.Length * h];
        int[]? ids = step.ForcedIds is null ? null : whole ? step.ForcedIds : new int[rows.Length * stride];
        float[]? weights = step.ForcedWeights is null ? null : whole ? step.ForcedWeights : new float[rows.Length * stride];
        for (var j = 0; !whole && j < rows.Length; j++)
        {
            Array.Copy(step.Hidden, rows[j] * h, hidden, j * h, h);
            if (ids is not null)
            {
                Array.Copy(step.ForcedIds!, rows[j] * stride, ids, j * stride, stride);
                Array.Copy(step.ForcedWeights!, rows[j] * stride, weights!, j * stride, stride);
            }
        }

        var tensor = TensorCodec.WrapMatrix(hidden, rows.Length, h);
        var routing = ids is null ? null : TensorCodec.WrapRouting(ids, weights!, step.ForcedTopK);
        ForcedRouting? carried = null;
        if (gate is not null && ids is null && whole)
        {
            carried = TensorCodec.WrapRouting(gate.Ids, gate.Weights, k);
        }
        else if (gate is not null && ids is null)
        {
            var gateIds = new int[rows.Length * k];
            var gateWeights = new float[rows.Length * k];
            for (var j = 0; j < rows.Length; j++)
            {
                Array.Copy(gate.Ids, rows[j] * k, gateIds, j * k, k);
                Array.Copy(gate.Weights, rows[j] * k, gateWeights, j * k, k);
            }

            carried = TensorCodec.WrapRouting(gateIds, gateWeights, k);
        }
        var tried = new HashSet<int>();
        var pod = home;
        budget.Sent();
        for (var attempt = 1; ; attempt++)
        {
            tried.Add(pod);
            var current = PodDirectory.DestinationId(pod);
            var (client, inflight) = pods.Open(pod);
            metrics.InFlight.WithLabels(current).Inc();
            try
            {
                var response = step.LayerApi
                    ? await client.ForwardLayerAsync(new ForwardLayerRequest { Model = step.Model, Layer = step.FirstLayer, Hidden = tensor, Routing = routing, GateRouting = carried, SequenceId = step.SequenceId ?? "" }, deadline: deadline, cancellationToken: ct)
                    : await client.ForwardAsync(new ForwardRequest { Model = step.Model, FirstLayer = step.FirstLayer, LastLayer = step.LastLayer, Hidden = tensor, Routing = routing, GateRouting = carried, SequenceId = step.SequenceId ?? "" }, deadline: deadline, cancellationToken: ct);
                return (rows, response, pod);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown && attempt < options.Value.MaxAttempts)
            {
                if (!StepFailure.IsElsewhere(e.Trailers.Select(t => (t.Key, t.Value))))
                {
                    pods.ReportFailure(pod); // the pod failed; one that answered that other pods' experts failed is healthy
                }

                if (!budget.TryRetry())
                {
                    metrics.RetriesRefused.WithLabels(step.Model).Inc();
                    throw new GatewayException(StatusCode.Unavailable, $"Pod {pod} is unavailable ({e.Status.Detail}), and the gateway's retry budget is spent: too many sub-batches failed recently.");
                }

                metrics.Retries.WithLabels(step.Model).Inc();
                var others = pods.Available().Where(p => !tried.Contains(p)).ToArray();
                if (others.Length == 0)
                {
                    throw new GatewayException(StatusCode.Unavailable, $"Pod {pod} is unavailable and no other pod can take the batch ({e.Status.Detail}).");
                }

                pod = others.MinBy(pods.InFlight);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
            {
                throw new GatewayException(StatusCode.DeadlineExceeded, "The request's deadline passed before the pods answered.");
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown)
            {
                throw new GatewayException(StatusCode.Unavailable, $"Pod {pod} is unavailable after {attempt} attempts ({e.Status.Detail}).");
            }
            finally
            {
                inflight.Dispose();
                metrics.InFlight.WithLabels(current).Dec();
            }
        }
    }
}
