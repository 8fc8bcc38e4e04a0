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
    int MaxArguments = 0)
{
    /// <summary>The usage text of this command.</summary>
    public string Usage()
    {
        var lines = new List<string> { $"usage: moectl {Path}{(Arguments.Length > 0 ? " " + Arguments : "")}{(Options.Count > 0 ? " [options]" : "")}", "", Summary };
        if (Options.Count > 0)
        {
            lines.Add("");
            lines.Add("options:");
            var width = Options.Max(o => o.Name.Length) + 4;
            lines.AddRange(Options.Select(o => $"  {("--" + o.Name).PadRight(width)}{o.Help}"));
        }

        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Where a command writes: standard output for results, standard error for progress and errors.</summary>
/// <param name="Out">Results (tables or JSON).</param>
/// <param name="Error">Progress, warnings and errors.</param>
public sealed record CliConsole(TextWriter Out, TextWriter Error);

/// <summary>Bad command-line arguments: moectl prints the message and the usage, and exits 2.</summary>
public sealed class UsageException(string message) : Exception(message);
