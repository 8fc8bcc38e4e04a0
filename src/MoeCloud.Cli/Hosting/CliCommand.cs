namespace MoeCloud.Cli.Hosting;

/// <summary>An option of a command: <c>--name value</c>, or a flag <c>--name</c>.</summary>
/// <param name="Name">Name without the dashes.</param>
/// <param name="Help">One line of help; for valued options, start with the value's placeholder.</param>
/// <param name="IsFlag">True for a flag that takes no value.</param>
public sealed record CliOption(string Name, string Help, bool IsFlag = false);

/// <summary>One <c>moectl</c> command.</summary>
/// <param name="Path">Words that select it, for example <c>trace stats</c>.</param>
/// <param name="Summary">One line for the command list.</param>
/// <param name="Arguments">Positional arguments as shown in usage, for example <c>&lt;dir&gt;</c>.</param>
/// <param name="Options">Options it accepts.</param>
/// <param name="Run">The handler; returns the exit code.</param>
/// <param name="MinArguments">Fewest positional arguments.</param>
/// <param name="MaxArguments">Most positional arguments.</param>
public sealed record CliCommand(
    string Path,
    string Summary,
    string Arguments,
    IReadOnlyList<CliOption> Options,
    Func<CliArgs, CliConsole, CancellationToken, Task<int>> Run,
    int MinArguments = 0,
    int MaxArguments = 0);

/// <summary>Where a command writes: standard output for results, standard error for progress and errors.</summary>
/// <param name="Out">Results (tables or JSON).</param>
/// <param name="Error">Progress, warnings and errors.</param>
/// <param name="ErrorIsTerminal">
/// True when <paramref name="Error"/> is an interactive terminal: progress is drawn as live bars there; otherwise
/// (tests, CI, pipes, files) it is written as plain lines.
/// </param>
public sealed record CliConsole(TextWriter Out, TextWriter Error, bool ErrorIsTerminal = false);

/// <summary>Bad command-line arguments: moectl prints the message and the command's help, and exits 2.</summary>
public sealed class UsageException(string message) : Exception(message);
