using System.CommandLine;
using System.CommandLine.Invocation;
using MoeCloud.Model.Traces;

namespace MoeCloud.Cli.Hosting;

/// <summary>
/// The command table of <c>moectl</c>, run through System.CommandLine. Exit codes: 0 success, 1 the command failed (bad input file,
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

    /// <summary>Exit code when the command was cancelled (Ctrl-C, SIGTERM).</summary>
    public const int Cancelled = 130;

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
        Cli.Commands.PlotCommands.Register(app);
        Cli.Commands.KubeCommands.Register(app);
        Cli.Commands.CompletionCommand.Register(app);
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

    /// <summary>
    /// Runs the command that <paramref name="args"/> selects. System.CommandLine parses them against the registered
    /// table and answers <c>--help</c>, <c>--version</c> and the <c>[suggest]</c> directive of the completion scripts;
    /// <c>moectl help [command]</c> is <c>moectl [command] --help</c>.
    /// </summary>
    public async Task<int> RunAsync(IReadOnlyList<string> args, CliConsole console, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(console);
        if (args.Count > 0 && args[0] == "help")
        {
            args = [.. args.Skip(1), "--help"];
        }

        var tree = new CommandLineTree(_commands, (command, parsed) => Run(command, parsed, console, cancellationToken));
        var result = tree.Parse(args);
        var invocation = new InvocationConfiguration { Output = console.Out, Error = console.Error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
        if (result.Action is ParseErrorAction)
        {
            // Errors, typo corrections and the command's help all go to standard error; standard output stays clean.
            await result.InvokeAsync(new InvocationConfiguration { Output = console.Error, Error = console.Error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, cancellationToken);
            return BadUsage;
        }

        return await result.InvokeAsync(invocation, cancellationToken);
    }

    private async Task<int> Run(CliCommand command, CliArgs parsed, CliConsole console, CancellationToken cancellationToken)
    {
        try
        {
            if (parsed.StrayOption is { } stray)
            {
                throw new UsageException($"Unrecognized command or argument '{stray}'.");
            }

            return await command.Run(parsed, console, cancellationToken);
        }
        catch (UsageException e)
        {
            await console.Error.WriteLineAsync($"moectl {command.Path}: {e.Message}");
            await console.Error.WriteLineAsync();
            await console.Error.WriteLineAsync(Help(command));
            return BadUsage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await console.Error.WriteLineAsync("moectl: cancelled");
            return Cancelled;
        }
        catch (Exception e) when (e is TraceFormatException or IOException or UnauthorizedAccessException or ArgumentException or InvalidDataException or InvalidOperationException
            or Grpc.Core.RpcException or HttpRequestException or TimeoutException)
        {
            await console.Error.WriteLineAsync($"moectl {command.Path}: error: {e.Message}");
            return Failed;
        }
    }

    /// <summary>The help text of <paramref name="command"/>, as <c>moectl &lt;command&gt; --help</c> prints it.</summary>
    private string Help(CliCommand command)
    {
        using var writer = new StringWriter();
        var tree = new CommandLineTree(_commands, (_, _) => Task.FromResult(Ok));
        tree.Parse([.. command.Path.Split(' '), "--help"]).Invoke(new InvocationConfiguration { Output = writer, Error = writer });
        return writer.ToString().TrimEnd();
    }
}
