using System.CommandLine;
using System.CommandLine.Help;

namespace MoeCloud.Cli.Hosting;

/// <summary>
/// The System.CommandLine tree of the registered <see cref="CliCommand"/> table: one <see cref="Command"/> per word of
/// each path (a word that only groups others, such as <c>trace</c>, lists them in its help), a
/// <see cref="Option{T}"/> of string per valued option, a zero-arity <see cref="Option{T}"/> of bool per flag, and
/// one string (or string-array) argument with the command's arity for the positionals.
/// </summary>
internal sealed class CommandLineTree
{
    private readonly Dictionary<Command, Binding> _bindings = [];

    /// <summary>Builds the tree; <paramref name="action"/> becomes each command's action.</summary>
    public CommandLineTree(IEnumerable<CliCommand> commands, Func<CliCommand, CliArgs, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(commands);
        Root = new RootCommand("moectl: the MoeCloud command line (traces, placement, benchmarks, the local cluster).") { HelpName = Name };

        // --help and -h only: the Windows spellings (-?, /h, /?) would crowd every completion list.
        foreach (var help in Root.Options.OfType<HelpOption>().ToArray())
        {
            Root.Options.Remove(help);
        }

        Root.Options.Add(new HelpOption("--help", "-h"));

        // Whatever the process is called (testhost, MoeCloud.Cli), a completion request's command line starts with moectl.
        Root.Aliases.Add(Name);
        foreach (var command in commands)
        {
            var node = Node(command.Path);
            var binding = Bind(node, command);
            _bindings[node] = binding;
            node.SetAction(result => action(command, new CliArgs(result, binding.Options, binding.Positionals)));
        }

        DescribeGroups(Root);
    }

    /// <summary>The name that help and completion scripts use.</summary>
    public const string Name = "moectl";

    /// <summary>The root command.</summary>
    public RootCommand Root { get; }

    /// <summary>
    /// Parser settings: no response files (an argument may start with <c>@</c>) and no bundling of one-letter
    /// options (moectl has none).
    /// </summary>
    public ParserConfiguration Configuration { get; } = new() { ResponseFileTokenReplacer = null, EnablePosixBundling = false };

    /// <summary>Parses <paramref name="args"/>.</summary>
    public ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args, Configuration);

    /// <summary>The registered command that <paramref name="command"/> runs, if any.</summary>
    public CliCommand? Registered(Command command) => _bindings.TryGetValue(command, out var binding) ? binding.Command : null;

    private Command Node(string path)
    {
        Command parent = Root;
        foreach (var word in path.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var child = parent.Subcommands.FirstOrDefault(c => c.Name == word);
            if (child is null)
            {
                child = new Command(word);
                parent.Subcommands.Add(child);
            }

            parent = child;
        }

        return parent;
    }

    private static Binding Bind(Command node, CliCommand command)
    {
        node.Description = command.Summary;
        var options = new Dictionary<string, Option>(StringComparer.Ordinal);
        foreach (var declared in command.Options)
        {
            Option option = declared.IsFlag ? Flag(declared) : Valued(declared);
            options.Add(declared.Name, option);
            node.Options.Add(option);
        }

        // One positional at most is a string argument (System.CommandLine does not fill an array from an arity of one).
        // The usage line shows the argument's name, so it is named as the declaration shows it (<deployment>).
        Argument? positionals = command.MaxArguments switch
        {
            <= 0 => null,
            1 => new Argument<string>(HelpName(command.Arguments)) { Arity = new ArgumentArity(command.MinArguments, 1) },
            _ => new Argument<string[]>(HelpName(command.Arguments)) { Arity = new ArgumentArity(command.MinArguments, command.MaxArguments) },
        };
        if (positionals is not null)
        {
            positionals.HelpName = HelpName(command.Arguments);
            if (Choices(command.Arguments) is { } choices)
            {
                positionals.CompletionSources.Add(choices);
            }

            node.Arguments.Add(positionals);
        }

        return new Binding(command, options, positionals);
    }

    private static Option<bool> Flag(CliOption declared) =>
        new("--" + declared.Name) { Description = declared.Help, Arity = ArgumentArity.Zero };

    /// <summary>
    /// A valued option; a help text that starts with a placeholder (<c>&lt;dir&gt; output directory</c>) gives the
    /// option's help name, and a placeholder of choices (<c>&lt;kept|lost&gt;</c>) its completions.
    /// </summary>
    private static Option<string> Valued(CliOption declared)
    {
        var option = new Option<string>("--" + declared.Name) { Description = declared.Help, Arity = ArgumentArity.ExactlyOne };
        var help = declared.Help;
        var end = help.IndexOf('>', StringComparison.Ordinal);
        if (help.StartsWith('<') && end > 1)
        {
            var placeholder = help[1..end];
            option.HelpName = placeholder;
            option.Description = help[(end + 1)..].TrimStart();
            if (Choices(help[..(end + 1)]) is { } choices)
            {
                option.CompletionSources.Add(choices);
            }
        }

        return option;
    }

    /// <summary>The positionals' name without the brackets that help adds itself: <c>[&lt;dir&gt;...]</c> is <c>dir</c>.</summary>
    private static string HelpName(string arguments)
    {
        var name = arguments.Replace("...", "", StringComparison.Ordinal).Trim('[', ']', '<', '>', ' ');
        return name.Length > 0 ? name : "arguments";
    }

    /// <summary>The choices of a placeholder such as <c>&lt;bash|zsh&gt;</c>; null for any other text.</summary>
    private static string[]? Choices(string placeholder)
    {
        if (placeholder.Length < 3 || placeholder[0] != '<' || placeholder[^1] != '>')
        {
            return null;
        }

        var choices = placeholder[1..^1].Split('|');
        return choices.Length > 1 && choices.All(c => c.Length > 0 && !c.Any(ch => char.IsWhiteSpace(ch) || ch is '<' or '>')) ? choices : null;
    }

    private static void DescribeGroups(Command command)
    {
        foreach (var child in command.Subcommands)
        {
            DescribeGroups(child);
        }

        if (string.IsNullOrEmpty(command.Description) && command.Subcommands.Count > 0)
        {
            command.Description = string.Join(", ", command.Subcommands.Select(c => c.Name));
        }
    }

    private sealed record Binding(CliCommand Command, IReadOnlyDictionary<string, Option> Options, Argument? Positionals);
}
