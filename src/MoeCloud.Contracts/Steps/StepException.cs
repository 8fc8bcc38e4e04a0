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

    /// <summary>
    /// The pod serves, but experts held elsewhere found no answering replica before the deadline (<c>Unavailable</c>,
    /// with <see cref="StepFailure.CauseTrailer"/> = <see cref="StepFailure.ExpertsElsewhere"/>): the failure is
    /// another pod's, so a caller must not count it against this one.
    /// </summary>
    ExpertsUnavailable,
}

/// <summary>What a runner's failed status says about where the failure lies, for the callers that keep pod health.</summary>
public static class StepFailure
{
    /// <summary>Trailer of a failed runner call that names its cause.</summary>
    public const string CauseTrailer = "moecloud-cause";

    /// <summary><see cref="CauseTrailer"/>'s value for <see cref="StepError.ExpertsUnavailable"/>.</summary>
    public const string ExpertsElsewhere = "experts-elsewhere";

    /// <summary>Whether a call's trailers say that the pod answered and the failure lies with other pods' experts.</summary>
    public static bool IsElsewhere(IEnumerable<(string Key, string Value)> trailers)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        return trailers.Any(t => string.Equals(t.Key, CauseTrailer, StringComparison.OrdinalIgnoreCase) && string.Equals(t.Value, ExpertsElsewhere, StringComparison.Ordinal));
    }
}

/// <summary>A request step that the gateway or a runner refuses; the API layer maps <see cref="Error"/> to a status code.</summary>
public sealed class StepException(StepError error, string message) : Exception(message)
{
    /// <summary>Why.</summary>
    public StepError Error { get; } = error;
}
