using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// What a silo of an <see cref="EmbeddedCluster"/> does on an Orleans fatal error, such as learning that the cluster
/// declared it dead: Orleans's own handler ends the process, which is right for a silo that is its own process, but
/// the silos of an embedded cluster share one. This handler stops that silo's host only, and logs why.
/// </summary>
internal sealed partial class StopSiloOnFatalError(IHostApplicationLifetime lifetime, ILogger<StopSiloOnFatalError> logger) : IFatalErrorHandler
{
    /// <inheritdoc />
    public bool IsUnexpected(Exception exception) => true;

    /// <inheritdoc />
    public void OnFatalException(object? sender = null, string? context = null, Exception? exception = null)
    {
        LogStopping(logger, exception, context ?? "(no context)");
        lifetime.StopApplication();
    }

    [LoggerMessage(EventId = 5500, Level = LogLevel.Error, Message = "Fatal error in this embedded silo, which stops (the other silos of the process keep running): {Context}")]
    private static partial void LogStopping(ILogger logger, Exception? exception, string context);
}
