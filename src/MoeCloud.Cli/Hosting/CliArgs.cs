using System.Globalization;

namespace MoeCloud.Cli.Hosting;

/// <summary>Parsed arguments of one command. Accessors throw <see cref="UsageException"/> on bad values.</summary>
public sealed class CliArgs
{
    private readonly Dictionary<string, string?> _options;

    private CliArgs(IReadOnlyList<string> positionals, Dictionary<string, string?> options)
    {
        Positionals = positionals;
        _options = options;
    }

    /// <summary>Positional arguments in order.</summary>
    public IReadOnlyList<string> Positionals { get; }

    /// <summary>Whether <c>--json</c> was given.</summary>
    public bool Json => Has("json");

    /// <summary>Parses <paramref name="args"/> against <paramref name="command"/>'s options.</summary>
    public static CliArgs Parse(CliCommand command, IReadOnlyList<string> args)
    {
        var known = command.Options.ToDictionary(o => o.Name, StringComparer.Ordinal);
        var positionals = new List<string>();
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                positionals.AddRange(args.Skip(i + 1));
                break;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                positionals.Add(arg);
                continue;
            }

            var name = arg[2..];
            string? inline = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                inline = name[(eq + 1)..];
                name = name[..eq];
            }

            if (!known.TryGetValue(name, out var option))
            {
                throw new UsageException($"unknown option '--{name}'");
            }

            if (options.ContainsKey(name))
            {
                throw new UsageException($"option '--{name}' is given twice");
            }

            if (option.IsFlag)
            {
                if (inline is not null)
                {
                    throw new UsageException($"option '--{name}' takes no value");
                }

                options[name] = null;
            }
            else if (inline is not null)
            {
                options[name] = inline;
            }
            else if (i + 1 < args.Count && !(args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
            {
                options[name] = args[++i];
            }
            else
            {
                throw new UsageException($"option '--{name}' needs a value");
            }
        }

        if (positionals.Count < command.MinArguments || positionals.Count > command.MaxArguments)
        {
            var expected = command.MinArguments == command.MaxArguments ? $"{command.MinArguments}" : $"{command.MinArguments} to {command.MaxArguments}";
            throw new UsageException($"expected {expected} argument(s) ({command.Arguments}), got {positionals.Count}");
        }

        return new CliArgs(positionals, options);
    }

    /// <summary>Whether the option or flag was given.</summary>
    public bool Has(string name) => _options.ContainsKey(name);

    /// <summary>The option's value, or null when absent.</summary>
    public string? Get(string name) => _options.TryGetValue(name, out var v) ? v : null;

    /// <summary>The option's value; a usage error when absent.</summary>
    public string Require(string name) => Get(name) ?? throw new UsageException($"option '--{name}' is required");

    /// <summary>An integer option within [min, max], or <paramref name="fallback"/> when absent.</summary>
    public int GetInt(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"option '--{name}' needs a whole number in [{min}, {max}], got '{text}'");
        }

        return value;
    }

    /// <summary>A finite number option within [min, max], or <paramref name="fallback"/> when absent.</summary>
    public double GetDouble(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var text = Get(name);
        if (text is null)
        {
            return fallback;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
        {
            throw new UsageException($"option '--{name}' needs a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}], got '{text}'");
        }

        return value;
    }

    /// <summary>One of <paramref name="choices"/>, or <paramref name="fallback"/> when absent.</summary>
    public string GetChoice(string name, string fallback, params string[] choices)
    {
        var text = Get(name) ?? fallback;
        if (!choices.Contains(text, StringComparer.Ordinal))
        {
            throw new UsageException($"option '--{name}' must be one of {string.Join(", ", choices)}; got '{text}'");
        }

        return text;
    }
}
