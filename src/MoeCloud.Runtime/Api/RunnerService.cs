using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Grpc.Core;
using MoeCloud.Contracts.Models;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Steps;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Api;

/// <summary>
/// The pod's runner endpoint (gRPC over HTTP/2): the gateway forwards each token sub-batch to its home pod here.
/// Bad requests get <c>InvalidArgument</c>, unknown models <c>NotFound</c>, a pod without a plan <c>Unavailable</c>.
/// A step whose gRPC deadline has passed when it arrives is refused with <c>DeadlineExceeded</c> without computing
/// anything (the caller has given up on it, and computing it would only add load); one whose deadline (less a margin
/// for the answer to travel back) passes while it runs stops at the next layer with the same status, or, when it was
/// waiting for a repair plan, with <c>Unavailable</c> naming the expert it waited for.
/// </summary>
public sealed class RunnerService(StackRunner runner, ModelCatalog catalog, SiloPlanState plans, SiloMetrics metrics, TimeProvider time) : MoeService.MoeServiceBase
{
    /// <inheritdoc />
    public override Task<ForwardResponse> Forward(ForwardRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        return Run(request.Model, request.FirstLayer, request.LastLayer, request.Hidden, request.Routing, request.GateRouting, request.RequestId, applyNorm: true, context);
    }

    /// <inheritdoc />
    public override Task ForwardStream(IAsyncStreamReader<ForwardRequest> requestStream, IServerStreamWriter<ForwardResponse> responseStream, ServerCallContext context) =>
        ForwardStreams.Serve(requestStream, responseStream, context, Forward);

    /// <inheritdoc />
    public override Task<ForwardResponse> ForwardLayer(ForwardLayerRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        return Run(request.Model, request.Layer, request.Layer, request.Hidden, request.Routing, request.GateRouting, request.RequestId, applyNorm: false, context);
    }

    /// <inheritdoc />
    public override Task<ModelInfo> GetModel(GetModelRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var model = catalog.Find(request.Model) ?? ThrowStatus<ServedModel>(StatusCode.NotFound, $"Model '{request.Model}' is not served here.");
        var plan = plans.Get(model.Name);
        return Task.FromResult(ModelInfos.From(model.Name, model.Spec, plan?.Version ?? 0, plan?.Pods ?? 0));
    }

    /// <inheritdoc />
    public override Task<Tensor> Echo(Tensor request, ServerCallContext context) => Task.FromResult(request);

    private async Task<ForwardResponse> Run(string model, int first, int last, Tensor? hidden, ForcedRouting? routing, ForcedRouting? gate, string requestId, bool applyNorm, ServerCallContext context)
    {
        // DateTime.MaxValue is gRPC's "no deadline".
        var bounded = context.Deadline != DateTime.MaxValue;
        var left = bounded ? context.Deadline.ToUniversalTime() - time.GetUtcNow().UtcDateTime : TimeSpan.MaxValue;
        if (left <= TimeSpan.Zero)
        {
            metrics.Requests.WithLabels(model, "deadline").Inc();
            return ThrowStatus<ForwardResponse>(StatusCode.DeadlineExceeded, $"The step arrived {-left.TotalMilliseconds:F0} ms after its deadline; it was not run.");
        }

        // A deadline further off than a day needs no timer (and a timer cannot be set past about 49 days). The step
        // stops a little before the caller's deadline (a quarter of the time left, at most 2 s: a loaded machine can stall
        // that long), so that the runner's
        // own status — naming the expert a step waited for in vain, for example — reaches the caller before its
        // deadline fires there.
        var stopAfter = left - TimeSpan.FromTicks(Math.Min(left.Ticks / 4, TimeSpan.FromSeconds(2).Ticks));
        using var expiry = left > TimeSpan.FromDays(1) ? new CancellationTokenSource() : new CancellationTokenSource(stopAfter, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, expiry.Token);
        var ct = linked.Token;
        try
        {
            // The decoded array is the step's own (the runner computes in it); the carried gate is checked by the
            // runner's validator like forced routing (StepValidator's remarks: the trust boundary).
            var (values, tokens, _) = TensorCodec.ReadMatrix(hidden);
            var forced = TensorCodec.ReadRouting(routing);
            var carried = TensorCodec.ReadRouting(gate);
            var started = Stopwatch.GetTimestamp();
            var result = await runner.RunOwning(new StepRequest(model, first, last, tokens, values, forced?.Ids, forced?.Weights, forced?.TopK ?? 0, applyNorm, carried?.Ids, carried?.Weights), ct);
            metrics.StepSeconds.WithLabels(model).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
            metrics.Requests.WithLabels(model, "ok").Inc();
            var response = new ForwardResponse
            {
                Hidden = TensorCodec.WrapMatrix(result.Hidden, tokens, result.Hidden.Length / Math.Max(1, tokens)),
                LocalDispatches = result.LocalDispatches,
                RemoteDispatches = result.RemoteDispatches,
                PlanVersion = result.PlanVersion,
                RequestId = requestId,
            };
            response.HomePods.Add(Enumerable.Repeat(result.HomePod, tokens));
            response.BestHomes.Add(result.BestHomes);
            response.TopK = result.ExpertIds.Length / Math.Max(1, tokens * (last - first + 1));
            var ids = new short[result.ExpertIds.Length];
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = (short)result.ExpertIds[i];
            }

            response.ExpertIds = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(new ArrayBytes<short>(ids).Memory);
            return response;
        }
        catch (OperationCanceledException) when (expiry.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            metrics.Requests.WithLabels(model, "deadline").Inc();
            return ThrowStatus<ForwardResponse>(StatusCode.DeadlineExceeded, "The step's deadline passed while it ran; it was stopped.");
        }
        catch (ArgumentException e)
        {
            metrics.Requests.WithLabels(model, "invalid").Inc();
            return ThrowStatus<ForwardResponse>(StatusCode.InvalidArgument, e.Message);
        }
        catch (StepException e)
        {
            metrics.Requests.WithLabels(model, e.Error == StepError.InvalidArgument ? "invalid" : "refused").Inc();
            return ThrowStatus<ForwardResponse>(
                e.Error switch
                {
                    StepError.NotFound => StatusCode.NotFound,
                    StepError.Unavailable or StepError.ExpertsUnavailable => StatusCode.Unavailable,
                    StepError.ResourceExhausted => StatusCode.ResourceExhausted,
                    _ => StatusCode.InvalidArgument,
                },
                e.Message,
                e.Error == StepError.ExpertsUnavailable ? new Metadata { { StepFailure.CauseTrailer, StepFailure.ExpertsElsewhere } } : null);
        }
    }

    [DoesNotReturn]
    private static T ThrowStatus<T>(StatusCode code, string message, Metadata? trailers = null) =>
        throw new RpcException(new Status(code, message), trailers ?? Metadata.Empty);
}
