using Grpc.Core;

namespace MoeCloud.Gateway.Forwarding;

/// <summary>A request the gateway refuses or cannot serve; <see cref="Code"/> maps to gRPC and HTTP statuses.</summary>
public sealed class GatewayException(StatusCode code, string message) : Exception(message)
{
    /// <summary>The gRPC status code.</summary>
    public StatusCode Code { get; } = code;

    /// <summary>The HTTP status of the same error (problem+json).</summary>
    public int HttpStatus => Code switch
    {
        StatusCode.InvalidArgument => 400,
        StatusCode.Unauthenticated => 401,
        StatusCode.PermissionDenied => 403,
        StatusCode.NotFound => 404,
        StatusCode.ResourceExhausted => 429,
        StatusCode.DeadlineExceeded => 504,
        StatusCode.Unavailable => 503,
        _ => 500,
    };
}
