namespace MoeCloud.Contracts.Steps;

/// <summary>Why a request step was refused or failed; each maps to one gRPC status code.</summary>
public enum StepError
{
    /// <summary>Malformed request: wrong shape, NaN, bad layer range, bad routing (<c>InvalidArgument</c>).</summary>
    InvalidArgument,

    /// <summary>Unknown model (<c>NotFound</c>).</summary>
    NotFound,

    /// <summary>The pod cannot serve yet: no plan adopted, shutting down (<c>Unavailable</c>).</summary>
    Unavailable,

    /// <summary>The request exceeds a limit (<c>ResourceExhausted</c>).</summary>
    ResourceExhausted,
}

/// <summary>A request step that the gateway or a runner refuses; the API layer maps <see cref="Error"/> to a status code.</summary>
public sealed class StepException(StepError error, string message) : Exception(message)
{
    /// <summary>Why.</summary>
    public StepError Error { get; } = error;
}
