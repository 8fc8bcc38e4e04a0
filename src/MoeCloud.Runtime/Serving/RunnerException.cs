namespace MoeCloud.Runtime.Serving;

/// <summary>Why a request step was refused or failed.</summary>
public enum RunnerError
{
    /// <summary>Malformed request: wrong shape, NaN, bad layer range, bad routing.</summary>
    InvalidArgument,

    /// <summary>Unknown model.</summary>
    NotFound,

    /// <summary>The pod cannot serve yet (no plan adopted, shutting down).</summary>
    Unavailable,

    /// <summary>The request exceeds a limit.</summary>
    ResourceExhausted,
}

/// <summary>A request step the runner refuses; the API layer maps <see cref="Error"/> to a status code.</summary>
public sealed class RunnerException(RunnerError error, string message) : Exception(message)
{
    /// <summary>Why.</summary>
    public RunnerError Error { get; } = error;
}
