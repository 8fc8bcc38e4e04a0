using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

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

    /// <summary>Renders rows as an aligned text table; numeric-looking cells are right-aligned.</summary>
    public static string Table(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        var all = new List<IReadOnlyList<string>> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Count).Select(c => all.Max(r => c < r.Count ? r[c].Length : 0)).ToArray();
        var sb = new StringBuilder();
        for (var r = 0; r < all.Count; r++)
        {
            var cells = Enumerable.Range(0, header.Count).Select(c =>
            {
                var cell = c < all[r].Count ? all[r][c] : "";
                return r > 0 && IsNumeric(cell) ? cell.PadLeft(widths[c]) : cell.PadRight(widths[c]);
            });
            sb.AppendLine(string.Join("  ", cells).TrimEnd());
            if (r == 0)
            {
                sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
            }
        }

        return sb.ToString().TrimEnd();
    }

    private static bool IsNumeric(string cell) =>
        cell.Length > 0 && double.TryParse(cell.Replace(",", "", StringComparison.Ordinal).TrimEnd('%', 'x', '×'), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
