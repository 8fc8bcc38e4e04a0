using Spectre.Console;

namespace MoeCloud.Cli.Hosting;

/// <summary>
/// Long work (a solve, a model written or loaded, a load run) shown on standard error. On a terminal
/// (<see cref="CliConsole.ErrorIsTerminal"/>) it is a Spectre.Console progress bar, a spinner until the work reports
/// how far it is, with the lines the work reports printed above it. Anywhere else (tests, CI, pipes, files) it is the
/// description and those lines as plain text, written as they come: never cursor movement or colour.
/// </summary>
public static class CliProgress
{
    /// <summary>Runs <paramref name="work"/> under a bar titled <paramref name="description"/>.</summary>
    public static async Task<T> RunAsync<T>(CliConsole console, string description, Func<CliProgressReporter, Task<T>> work)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(work);
        if (!console.ErrorIsTerminal)
        {
            await console.Error.WriteLineAsync(description);
            return await work(new CliProgressReporter(console.Error));
        }

        var terminal = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(console.Error),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        return await terminal.Progress()
            .AutoClear(false)
            .Columns(new SpinnerColumn(), new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: 1);
                task.IsIndeterminate = true;
                try
                {
                    return await work(new CliProgressReporter(terminal, task));
                }
                finally
                {
                    task.IsIndeterminate = false;
                    task.Value = task.MaxValue;
                    task.StopTask();
                }
            });
    }
}

/// <summary>
/// What long work reports through: lines (<see cref="Report"/>, as <see cref="IProgress{T}"/> of string) and, where it
/// knows them, how far it is (<see cref="Advance"/>). Safe to call from any thread; a line is written before the
/// call returns (unlike <see cref="Progress{T}"/>, which posts to the thread pool and can write after the command
/// returned).
/// </summary>
public sealed class CliProgressReporter : IProgress<string>
{
    private readonly Lock _gate = new();
    private readonly TextWriter? _plain;
    private readonly IAnsiConsole? _terminal;
    private readonly ProgressTask? _task;

    internal CliProgressReporter(TextWriter plain) => _plain = plain;

    internal CliProgressReporter(IAnsiConsole terminal, ProgressTask task)
    {
        _terminal = terminal;
        _task = task;
    }

    /// <summary>Writes <paramref name="value"/> as a line (above the bar on a terminal).</summary>
    public void Report(string value)
    {
        lock (_gate)
        {
            if (_terminal is not null)
            {
                _terminal.WriteLine(value);
            }
            else
            {
                _plain?.WriteLine(value);
            }
        }
    }

    /// <summary>
    /// Sets how far the work is, <paramref name="value"/> of <paramref name="max"/> (for example seconds of a run).
    /// On a terminal the bar moves and <paramref name="status"/> becomes its title; elsewhere <paramref name="status"/>
    /// is written as a line.
    /// </summary>
    public void Advance(double value, double max, string status)
    {
        lock (_gate)
        {
            if (_task is null)
            {
                _plain?.WriteLine(status);
                return;
            }

            _task.IsIndeterminate = false;
            _task.MaxValue = Math.Max(max, double.Epsilon);
            _task.Value = Math.Clamp(value, 0, _task.MaxValue);
            _task.Description = Markup.Escape(status.Trim());
        }
    }
}
