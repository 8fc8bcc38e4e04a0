using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;

namespace MoeCloud.Client;

/// <summary>The result of a request step.</summary>
/// <param name="Hidden">Output hidden states, row-major <c>[tokens, hidden]</c>.</param>
/// <param name="Tokens">Tokens.</param>
/// <param name="HiddenSize">Hidden size.</param>
/// <param name="LocalDispatches">Dispatches served on the tokens' home pods.</param>
/// <param name="RemoteDispatches">Dispatches served elsewhere.</param>
/// <param name="PlanVersion">The plan version that served it.</param>
/// <param name="HomePods">Home pod per token.</param>
public sealed record StepOutput(float[] Hidden, int Tokens, int HiddenSize, long LocalDispatches, long RemoteDispatches, int PlanVersion, IReadOnlyList<int> HomePods)
{
    /// <summary>Remote dispatches / all dispatches.</summary>
    public double RemoteFraction => (double)RemoteDispatches / Math.Max(1, LocalDispatches + RemoteDispatches);
}

/// <summary>Options of <see cref="MoeCloudClient"/>.</summary>
public sealed record MoeCloudClientOptions
{
    /// <summary>The API key (sent as <c>x-api-key</c>), or null.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Deadline of each call. Default 30 s.</summary>
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per call when the gateway answers <c>Unavailable</c>, or the call fails <c>Internal</c> (a broken HTTP/2 connection); jittered exponential backoff from 100 ms to 2 s. Default 4, at most 5. Given several replicas, a call that failed in the transport on one (refused, reset, a broken connection) goes on to another usable one without counting as an attempt.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>
    /// Retry budget (gRPC retry throttling): the client holds this many tokens, each failed attempt takes one, each
    /// successful call returns <see cref="RetryTokenRatio"/>, and calls are retried only while more than half remain. A
    /// gateway that fails every call is then sent about one call per call, not <see cref="MaxAttempts"/>. Default 10,
    /// in [1, 1000].
    /// </summary>
    public int RetryTokens { get; init; } = 10;

    /// <summary>Tokens a successful call returns to the retry budget, in (0, 1]. Default 0.1.</summary>
    public double RetryTokenRatio { get; init; } = 0.1;
}

/// <summary>
/// A typed client of the MoeCloud gateway (gRPC). Calls carry the API key and a deadline and are retried on
/// <c>Unavailable</c> (a request step is idempotent) within a retry budget. Given several gateway replicas, the client
/// spreads calls round robin over those not set aside: a replica whose connection broke or that refused one is set
/// aside for a backoff, a call it refused goes to another at once, and a retry goes to the next one, so a gateway that
/// dies costs no call while another answers; all replicas share one retry budget (<see cref="GatewayReplicas"/>).
/// Thread-safe; reuse one instance.
/// </summary>
public sealed class MoeCloudClient : IDisposable
{
    private readonly GatewayReplicas _replicas;
    private readonly MoeCloudClientOptions _options;

    /// <summary>Connects to the gateway at <paramref name="address"/> (http:// for plain HTTP/2, https:// for TLS).</summary>
    public MoeCloudClient(Uri address, MoeCloudClientOptions? options = null)
        : this([address ?? throw new ArgumentNullException(nameof(address))], options)
    {
    }

    /// <summary>
    /// Connects to the gateway replicas at <paramref name="addresses"/> (all http:// or all https://): calls go round
    /// robin over the replicas not set aside, and a retried call goes to the next one.
    /// </summary>
    public MoeCloudClient(IReadOnlyList<Uri> addresses, MoeCloudClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        _options = options ?? new MoeCloudClientOptions();
        if (_options.RetryTokens is < 1 or > 1000 || _options.RetryTokenRatio is not (> 0 and <= 1))
        {
            throw new ArgumentException($"RetryTokens must be in [1, 1000] and RetryTokenRatio in (0, 1] (got {_options.RetryTokens} and {_options.RetryTokenRatio}).", nameof(options));
        }

        _replicas = new GatewayReplicas(addresses, _options, GatewayHandler);
    }

    /// <summary>The model's shape and live plan version.</summary>
    public async Task<ModelInfo> GetModelAsync(string model, CancellationToken cancellationToken = default) =>
        await _replicas.Call((c, o) => c.GetModelAsync(new GetModelRequest { Model = model }, o), Headers(), cancellationToken);

    /// <summary>
    /// Runs <paramref name="hidden"/> (<c>[tokens, hiddenSize]</c>) through MoE layers <paramref name="firstLayer"/>..<paramref name="lastLayer"/>.
    /// </summary>
    public async Task<StepOutput> ForwardAsync(string model, ReadOnlyMemory<float> hidden, int tokens, int hiddenSize, int firstLayer, int lastLayer, string? sequenceId = null, CancellationToken cancellationToken = default)
    {
        if (tokens < 1 || hiddenSize < 1 || hidden.Length != tokens * hiddenSize)
        {
            throw new ArgumentException($"{hidden.Length} values do not form [{tokens}, {hiddenSize}].", nameof(hidden));
        }

        var request = new ForwardRequest { Model = model, FirstLayer = firstLayer, LastLayer = lastLayer, Hidden = Tensor(hidden, tokens, hiddenSize), SequenceId = sequenceId ?? "" };
        var response = await _replicas.Call((c, o) => c.ForwardAsync(request, o), Headers(), cancellationToken);
        return Output(response, tokens, hiddenSize);
    }

    /// <summary>One MoE layer (<c>MoE_l(x)</c>) for an already normalised input.</summary>
    public async Task<StepOutput> ForwardLayerAsync(string model, ReadOnlyMemory<float> hidden, int tokens, int hiddenSize, int layer, CancellationToken cancellationToken = default)
    {
        var request = new ForwardLayerRequest { Model = model, Layer = layer, Hidden = Tensor(hidden, tokens, hiddenSize) };
        var response = await _replicas.Call((c, o) => c.ForwardLayerAsync(request, o), Headers(), cancellationToken);
        return Output(response, tokens, hiddenSize);
    }

    /// <inheritdoc />
    public void Dispose() => _replicas.Dispose();

    /// <summary>
    /// The HTTP/2 handler to the gateways. A gateway whose host or container went away sends no reset, so a call on its
    /// connection would wait for its deadline: while calls are in flight and nothing has arrived for 2 s, a ping goes
    /// out, and one unanswered for 5 s closes the connection, so its calls fail (<c>Internal</c>, a protocol error) and the retry policy
    /// sends them to another replica. A new connection to an address that answers nothing gives up after 3 s.
    /// </summary>
    private static SocketsHttpHandler GatewayHandler() => new()
    {
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        KeepAlivePingDelay = TimeSpan.FromSeconds(2),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
        ConnectTimeout = TimeSpan.FromSeconds(3),
        EnableMultipleHttp2Connections = true,
    };

    /// <summary>
    /// The request tensor. An array's values are wrapped, not copied (the caller's buffer must not change until the call
    /// returns, which the awaited call guarantees for the caller's own code); other memory is copied once.
    /// </summary>
    private static Tensor Tensor(ReadOnlyMemory<float> values, int tokens, int hidden)
    {
        var data = MemoryMarshal.TryGetArray(values, out var segment) && segment.Array is { } array
            ? UnsafeByteOperations.UnsafeWrap(new ArrayBytes<float>(array).Memory.Slice(segment.Offset * sizeof(float), segment.Count * sizeof(float)))
            : ByteString.CopyFrom(MemoryMarshal.AsBytes(values.Span));
        var tensor = new Tensor { Data = data };
        tensor.Shape.Add(tokens);
        tensor.Shape.Add(hidden);
        return tensor;
    }

    private static StepOutput Output(ForwardResponse response, int tokens, int hidden) =>
        new(MemoryMarshal.Cast<byte, float>(response.Hidden.Data.Span).ToArray(), tokens, hidden, response.LocalDispatches, response.RemoteDispatches, response.PlanVersion, response.HomePods);

    private Metadata Headers() => _options.ApiKey is { } key ? new Metadata { { "x-api-key", key } } : [];
}
