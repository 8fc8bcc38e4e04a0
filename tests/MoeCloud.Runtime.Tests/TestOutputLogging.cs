using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeCloud.Runtime.Hosting;
using Xunit.Abstractions;

namespace MoeCloud.Runtime.Tests;

/// <summary>
/// Writes a test cluster's logs to the test's output, so that a test that fails under CI's load shows what its silos
/// did: MoeCloud's own messages from <see cref="LogLevel.Information"/>, the rest as <see cref="EmbeddedCluster.QuietLogging"/>
/// leaves them. Each line starts with the seconds since the provider was made. Messages at <see cref="LogLevel.Error"/>
/// and above are also kept in <see cref="Errors"/>, for tests that assert there were none.
/// </summary>
public sealed class TestOutputLogging(ITestOutputHelper output)
{
    private readonly Stopwatch _since = Stopwatch.StartNew();
    private readonly ConcurrentQueue<string> _errors = new();

    /// <summary>Every error (or critical) message so far, as <c>pod P category[event id]: message</c>.</summary>
    public IReadOnlyCollection<string> Errors => _errors;

    /// <summary>The levels: <see cref="EmbeddedCluster.QuietLogging"/>'s, with MoeCloud's own messages from information.</summary>
    public static void Levels(ILoggingBuilder logging)
    {
        EmbeddedCluster.QuietLogging(logging);
        logging.AddFilter("MoeCloud", LogLevel.Information);
    }

    /// <summary>Sends the logs of pod <paramref name="pod"/>'s silo, whose services these are, to the test's output.</summary>
    public void AddTo(int pod, IServiceCollection services) => services.AddSingleton<ILoggerProvider>(new PodProvider(this, pod));

    private void Write(string line)
    {
        try
        {
            output.WriteLine($"{_since.Elapsed.TotalSeconds,8:F3} {line}");
        }
        catch (InvalidOperationException)
        {
            // The test has ended; a silo still stopping has no one to tell.
        }
    }

    private sealed class PodProvider(TestOutputLogging owner, int pod) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(owner, categoryName, pod);

        public void Dispose()
        {
        }
    }

    private sealed class Logger(TestOutputLogging owner, string category, int pod) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            var error = exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]";
            owner.Write($"pod {pod} {logLevel} {category}: {message}{error}");
            if (logLevel >= LogLevel.Error)
            {
                owner._errors.Enqueue($"pod {pod} {category}[{eventId.Id}]: {message}");
            }
        }
    }
}
