using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace MoeCloud.Cli.Hosting;

/// <summary>Table and JSON output shared by every command.</summary>
public static class CliOutput
{
    /// <summary>JSON options of every <c>--json</c> output: camelCase, indented, non-finite numbers as strings never occur.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    // Wide enough that no table wraps: a table is as wide as its widest row.
    private const int UnwrappedWidth = 4096;

    /// <summary>Writes <paramref name="value"/> as JSON.</summary>
    public static Task WriteJsonAsync<T>(TextWriter writer, T value) => writer.WriteLineAsync(JsonSerializer.Serialize(value, Json));

    /// <summary>Formats a number with <paramref name="digits"/> decimals, invariant culture.</summary>
    public static string Num(double value, int digits = 3) => value.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>Formats a whole number with thousands separators.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The <paramref name="q"/>-quantile of <paramref name="values"/> (nearest rank on the sorted values); NaN when empty.</summary>
    public static double Percentile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[(int)Math.Round(q * (sorted.Length - 1))];
    }

    /// <summary>
    /// Renders rows as a Spectre.Console table (rounded borders, numeric-looking cells right-aligned) as plain text:
    /// no colour or cursor codes, no wrapping, so the same text reads on a terminal, in a file or in a pipe.
    /// </summary>
    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var name in header)
        {
            table.AddColumn(new TableColumn(new Text(name)));
        }

        foreach (var row in rows)
        {
            table.AddRow(Enumerable.Range(0, header.Count).Select(c =>
            {
                var cell = c < row.Count ? row[c] : "";
                return new Text(cell) { Justification = IsNumeric(cell) ? Justify.Right : Justify.Left };
            }));
        }

        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = UnwrappedWidth;
        console.Profile.Capabilities.Unicode = true;
        console.Write(table);
        return string.Join(Environment.NewLine, writer.ToString().TrimEnd().Split('\n').Select(line => line.TrimEnd()));
    }

    private static bool IsNumeric(string cell) =>
        cell.Length > 0 && double.TryParse(cell.Replace(",", "", StringComparison.Ordinal).TrimEnd('%', 'x', '×'), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
