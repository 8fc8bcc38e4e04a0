using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace MoeCloud.Cli.Hosting;

/// <summary>
/// The arguments of one command: a view over System.CommandLine's parse result for that command. Accessors throw
/// <see cref="UsageException"/> on bad values; a name the command does not declare reads as absent.
/// </summary>
public sealed class CliArgs
{
    private readonly ParseResult _result;
    private readonly IReadOnlyDictionary<string, Option> _options;

    internal CliArgs(ParseResult result, IReadOnlyDictionary<string, Option> options, Argument? positionals)
    {
        _result = result;
        _options = options;
        Positionals = positionals switch
        {
            Argument<string> one => result.GetValue(one) is { } value ? [value] : [],
            Argument<string[]> many => result.GetValue(many) ?? [],
            _ => [],
        };

        // System.CommandLine takes an unknown --name for a positional where the command has room for one; moectl
        // has no positional that starts with two dashes except after "--".
        StrayOption = result.Tokens
            .TakeWhile(t => t.Type != TokenType.DoubleDash)
            .FirstOrDefault(t => t.Type == TokenType.Argument && t.Value.Length > 2 && t.Value.StartsWith("--", StringComparison.Ordinal) && Positionals.Contains(t.Value))
            ?.Value;
    }

    /// <summary>A positional that looks like an option (<c>--bogus</c>) and came before any <c>--</c>; null when none.</summary>
    internal string? StrayOption { get; }

    /// <summary>Positional arguments in order.</summary>
    public IReadOnlyList<string> Positionals { get; }

    /// <summary>Whether <c>--json</c> was given.</summary>
    public bool Json => Has("json");

    /// <summary>Whether the option or flag was given.</summary>
    public bool Has(string name) => _options.TryGetValue(name, out var option) && _result.GetResult(option) is { Implicit: false };

    /// <summary>The option's value, or null when absent (and for a flag).</summary>
    public string? Get(string name) => _options.TryGetValue(name, out var option) && option is Option<string> valued ? _result.GetValue(valued) : null;

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
