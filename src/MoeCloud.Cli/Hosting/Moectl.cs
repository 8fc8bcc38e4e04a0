using MoeCloud.Model.Traces;

namespace MoeCloud.Cli.Hosting;

/// <summary>
/// The command table and dispatcher of <c>moectl</c>. Exit codes: 0 success, 1 the command failed (bad input file,
/// unreachable server …), 2 bad command-line arguments (usage is printed), 130 cancelled.
/// </summary>
public sealed class Moectl
{
    /// <summary>Exit code for success.</summary>
    public const int Ok = 0;

    /// <summary>Exit code when the command ran and failed.</summary>
    public const int Failed = 1;

    /// <summary>Exit code for bad arguments.</summary>
    public const int BadUsage = 2;

    private readonly List<CliCommand> _commands = [];

    /// <summary>All commands, in registration order.</summary>
    public IReadOnlyList<CliCommand> Commands => _commands;

    /// <summary>Creates moectl with every command group registered.</summary>
    public static Moectl CreateDefault()
    {
        var app = new Moectl();
        Cli.Commands.TraceCommands.Register(app);
        Cli.Commands.TraceImportCommand.Register(app);
        Cli.Commands.DemoCommand.Register(app);
        Cli.Commands.ModelCommands.Register(app);
        Cli.Commands.BenchCommands.Register(app);
        Cli.Commands.PlanCommands.Register(app);
        Cli.Commands.SimulateCommand.Register(app);
        Cli.Commands.BenchPlacementCommand.Register(app);
        Cli.Commands.RuntimeCommands.Register(app);
        Cli.Commands.BenchClusterCommand.Register(app);
        Cli.Commands.BenchDatapathCommand.Register(app);
        Cli.Commands.BenchGatewayCommand.Register(app);
        Cli.Commands.BenchChaosCommand.Register(app);
        Cli.Commands.BenchElasticCommand.Register(app);
        Cli.Commands.GatewayCommand.Register(app);
        Cli.Commands.LoadCommand.Register(app);
        Cli.Commands.ExportCommand.Register(app);
        Cli.Commands.KubeKeysCommands.Register(app);
        return app;
    }

    /// <summary>Adds a command.</summary>
    public void Add(CliCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_commands.Any(c => c.Path == command.Path))
        {
            throw new InvalidOperationException($"Command '{command.Path}' is registered twice.");
        }

        _commands.Add(command);
    }

    /// <summary>Runs the command that <paramref name="args"/> selects.</summary>
    public async Task<int> RunAsync(IReadOnlyList<string> args, CliConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        if (args.Count == 0)
        {
            await console.Error.WriteLineAsync(Overview());
            return BadUsage;
        }

        if (args[0] is "--help" or "-h" or "help")
        {
            await console.Out.WriteLineAsync(Overview());
            return Ok;
        }

        var match = _commands
            .Select(c => (Command: c, Words: c.Path.Split(' ')))
            .Where(c => c.Words.Length <= args.Count && c.Words.SequenceEqual(args.Take(c.Words.Length), StringComparer.Ordinal))
            .OrderByDescending(c => c.Words.Length)
            .FirstOrDefault();
        if (match.Command is null)
        {
            await console.Error.WriteLineAsync($"moectl: unknown command '{string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')))}'");
            await console.Error.WriteLineAsync();
            await console.Error.WriteLineAsync(Overview(args[0]));
            return BadUsage;
        }

        var command = (match.Command, Remaining: args.Skip(match.Words.Length).ToArray());
        if (command.Remaining.Contains("--help") || command.Remaining.Contains("-h"))
        {
            await console.Out.WriteLineAsync(command.Command.Usage());
            return Ok;
        }

        CliArgs parsed;
        try
        {
            parsed = CliArgs.Parse(command.Command, command.Remaining);
        }
        catch (UsageException e)
        {
            return await UsageError(console, command.Command, e.Message);
        }

        try
        {
            return await command.Command.Run(parsed, console, cancellationToken);
        }
        catch (UsageException e)
        {
            return await UsageError(console, command.Command, e.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await console.Error.WriteLineAsync("moectl: cancelled");
            return 130;
        }
        catch (Exception e) when (e is TraceFormatException or IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException or InvalidOperationException
            or Grpc.Core.RpcException or HttpRequestException or TimeoutException)
        {
            await console.Error.WriteLineAsync($"moectl {command.Command.Path}: error: {e.Message}");
            return Failed;
        }
    }

    private static async Task<int> UsageError(CliConsole console, CliCommand command, string message)
    {
        await console.Error.WriteLineAsync($"moectl {command.Path}: {message}");
        await console.Error.WriteLineAsync();
        await console.Error.WriteLineAsync(command.Usage());
        return BadUsage;
    }

    private string Overview(string? group = null)
    {
        var shown = _commands.Where(c => group is null || c.Path.StartsWith(group + " ", StringComparison.Ordinal) || c.Path == group).ToList();
        if (shown.Count == 0)
        {
            shown = [.. _commands];
        }

        var width = shown.Max(c => c.Path.Length) + 2;
        var lines = new List<string> { "usage: moectl <command> [arguments] [options]   (moectl <command> --help for details)", "", "commands:" };
        lines.AddRange(shown.Select(c => $"  {c.Path.PadRight(width)}{c.Summary}"));
        return string.Join(Environment.NewLine, lines);
    }
}
