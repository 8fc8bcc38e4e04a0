using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Api;

/// <summary>The gateway's gRPC API (<c>moecloud.v1.MoeService</c>, the same contract the pods' runners serve).</summary>
public sealed class GatewayGrpcService(GatewayForwarder forwarder, GatewayModels models, PodDirectory pods, ApiKeyAuthenticator keys, GatewayMetrics metrics, IOptions<GatewayOptions> options) : MoeService.MoeServiceBase
{
    /// <inheritdoc />
    public override Task<ForwardResponse> Forward(ForwardRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Serve("forward", context, () => Step(request.Model, request.FirstLayer, request.LastLayer, request.Hidden, request.Routing, request.SequenceId, layerApi: false), request.RequestId);
    }

    /// <inheritdoc />
    public override Task ForwardStream(IAsyncStreamReader<ForwardRequest> requestStream, IServerStreamWriter<ForwardResponse> responseStream, ServerCallContext context) =>
        ForwardStreams.Serve(requestStream, responseStream, context, Forward);

    /// <inheritdoc />
    public override Task<ForwardResponse> ForwardLayer(ForwardLayerRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Serve("forward_layer", context, () => Step(request.Model, request.Layer, request.Layer, request.Hidden, request.Routing, request.SequenceId, layerApi: true), request.RequestId);
    }

    /// <inheritdoc />
    public override Task<ModelInfo> GetModel(GetModelRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            keys.AuthorizeClient(KeyOf(context));
            var scheduler = models.Find(request.Model) ?? throw new GatewayException(StatusCode.NotFound, $"Model '{request.Model}' is not served.");
            return Task.FromResult(GatewayModelInfo.Of(scheduler, pods.Available().Count));
        }
        catch (GatewayException e)
        {
            throw new RpcException(new Status(e.Code, e.Message));
        }
    }

    internal static string? KeyOf(ServerCallContext context) =>
        ApiKeyAuthenticator.Read(context.RequestHeaders.GetValue(ApiKeyAuthenticator.Header), context.RequestHeaders.GetValue("authorization"));

    private static GatewayStep Step(string model, int first, int last, Tensor? hidden, ForcedRouting? routing, string sequenceId, bool layerApi)
    {
        try
        {
            var (values, tokens, _) = TensorCodec.ReadMatrix(hidden);
            var forced = TensorCodec.ReadRouting(routing);
            return new GatewayStep(model, first, last, tokens, values, forced?.Ids, forced?.Weights, forced?.TopK ?? 0, string.IsNullOrEmpty(sequenceId) ? null : sequenceId, layerApi);
        }
        catch (ArgumentException e)
        {
            throw new GatewayException(StatusCode.InvalidArgument, e.Message);
        }
    }

    private async Task<ForwardResponse> Serve(string api, ServerCallContext context, Func<GatewayStep> parse, string requestId)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "ok";
        try
        {
            keys.AuthorizeClient(KeyOf(context));
            var step = parse();
            var deadline = context.Deadline == DateTime.MaxValue ? DateTime.UtcNow + options.Value.DefaultDeadline : context.Deadline;
            var result = await forwarder.Forward(step, deadline, context.CancellationToken);
            var response = new ForwardResponse
            {
                Hidden = TensorCodec.WrapMatrix(result.Hidden, step.Tokens, result.Hidden.Length / step.Tokens),
                LocalDispatches = result.Local,
                RemoteDispatches = result.Remote,
                PlanVersion = result.PlanVersion,
                RequestId = requestId,
            };
            response.HomePods.Add(result.Homes);
            response.BestHomes.Add(result.BestHomes);
            return response;
        }
        catch (GatewayException e)
        {
            outcome = e.Code.ToString();
            metrics.Rejected.WithLabels(e.Code.ToString()).Inc();
            throw new RpcException(new Status(e.Code, e.Message));
        }
        catch (RpcException e)
        {
            outcome = e.StatusCode.ToString();
            throw;
        }
        finally
        {
            metrics.Latency.WithLabels(api, outcome).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
