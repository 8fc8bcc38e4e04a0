using System.Globalization;
using System.Text;
using ScottPlot;
using SkiaSharp;

namespace MoeCloud.Cli.Plots;

/// <summary>The picture formats <c>moectl plot</c> writes, chosen by the output file's extension.</summary>
internal enum PlotFormat
{
    /// <summary><c>.png</c>: a raster picture.</summary>
    Png,

    /// <summary><c>.svg</c>: a vector picture (text stays text).</summary>
    Svg,
}

/// <summary>A heatmap to draw.</summary>
/// <param name="Values"><c>[rows, columns]</c>, row 0 at the top, column 0 at the left; not negative.</param>
/// <param name="Title">Title above the picture.</param>
/// <param name="XLabel">Label of the columns' axis (below).</param>
/// <param name="YLabel">Label of the rows' axis (left).</param>
/// <param name="ColorLabel">Label of the colour bar (right): what a cell's colour counts.</param>
internal sealed record HeatmapSpec(double[,] Values, string Title, string XLabel, string YLabel, string ColorLabel);

/// <summary>One labelled point of a scatter plot.</summary>
/// <param name="Series">The series it belongs to: one colour and one legend entry per series.</param>
/// <param name="Label">Text drawn beside the point.</param>
/// <param name="X">Position on the horizontal axis.</param>
/// <param name="Y">Position on the vertical axis.</param>
internal sealed record ScatterPoint(string Series, string Label, double X, double Y);

/// <summary>Draws <c>moectl plot</c>'s pictures with ScottPlot and writes them as PNG or SVG.</summary>
internal static class PlotRenderer
{
    /// <summary>Most tick labels on a heatmap axis; longer axes label every n-th row or column.</summary>
    private const int MaxTicks = 32;

    private const string PreferredFont = "DejaVu Sans";

    /// <summary>The format <paramref name="path"/>'s extension names (case-insensitive), or null for any other.</summary>
    public static PlotFormat? FormatOf(string path) => Path.GetExtension(path).ToUpperInvariant() switch
    {
        ".PNG" => PlotFormat.Png,
        ".SVG" => PlotFormat.Svg,
        _ => null,
    };

    /// <summary>Whether any font is installed; without one the pictures have no text (titles, labels, tick numbers).</summary>
    /// <remarks>Skia's font manager without fonts still lists one family, with an empty name.</remarks>
    public static bool HasFonts => SKFontManager.Default.FontFamilies.Any(f => f.Length > 0);

    /// <summary>Draws <paramref name="spec"/> with a colour bar (Viridis, from 0 to the largest value) and writes it.</summary>
    public static void Heatmap(HeatmapSpec spec, string path, PlotFormat format, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(spec);
        int rows = spec.Values.GetLength(0), columns = spec.Values.GetLength(1);
        var max = spec.Values.Cast<double>().DefaultIfEmpty(0).Max();
        using var plot = NewPlot(spec.Title, spec.XLabel, spec.YLabel);
        var heatmap = plot.Add.Heatmap(spec.Values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, max > 0 ? max : 1);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = spec.ColorLabel;

        // ScottPlot centres cell (r, c) at x = c, y = rows - 1 - r: row 0 is the top one.
        plot.Axes.Bottom.TickGenerator = IndexTicks(columns, c => c);
        plot.Axes.Left.TickGenerator = IndexTicks(rows, r => rows - 1 - r);
        plot.Axes.SetLimits(-0.5, columns - 0.5, -0.5, rows - 0.5);
        plot.HideGrid();
        Write(plot, path, format, width, height);
    }

    /// <summary>Draws <paramref name="points"/> as a scatter plot, each point labelled, one colour per series, and writes it.</summary>
    public static void Scatter(string title, string xLabel, string yLabel, IReadOnlyList<ScatterPoint> points, string path, PlotFormat format, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(points);
        using var plot = NewPlot(title, xLabel, yLabel);
        foreach (var series in points.GroupBy(p => p.Series, StringComparer.Ordinal))
        {
            var scatter = plot.Add.ScatterPoints(series.Select(p => p.X).ToArray(), series.Select(p => p.Y).ToArray());
            scatter.LegendText = series.Key;
            scatter.MarkerSize = 8;
            foreach (var point in series)
            {
                var text = plot.Add.Text(point.Label, point.X, point.Y);
                text.LabelFontSize = 11;
                text.LabelFontColor = scatter.Color;
                text.Alignment = Alignment.LowerLeft;
                text.OffsetX = 5;
                text.OffsetY = -3;
            }
        }

        plot.ShowLegend(Edge.Right);
        if (points.Count > 0)
        {
            // Room on the right for the labels of the rightmost points, which are drawn to the right of their points.
            double minX = points.Min(p => p.X), maxX = points.Max(p => p.X), minY = points.Min(p => p.Y), maxY = points.Max(p => p.Y);
            double spanX = maxX > minX ? maxX - minX : 0.1, spanY = maxY > minY ? maxY - minY : 0.1;
            plot.Axes.SetLimits(minX - (0.05 * spanX), maxX + (0.3 * spanX), minY - (0.08 * spanY), maxY + (0.12 * spanY));
        }

        Write(plot, path, format, width, height);
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        if (SKFontManager.Default.FontFamilies.Contains(PreferredFont, StringComparer.Ordinal))
        {
            plot.Font.Set(PreferredFont);
        }

        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    /// <summary>Ticks at the cells' centres labelled with their indices, every n-th so that at most <see cref="MaxTicks"/> show.</summary>
    private static ScottPlot.TickGenerators.NumericManual IndexTicks(int count, Func<int, double> position)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        var stride = Math.Max(1, (count + MaxTicks - 1) / MaxTicks);
        for (var i = 0; i < count; i += stride)
        {
            ticks.AddMajor(position(i), i.ToString(CultureInfo.InvariantCulture));
        }

        return ticks;
    }

    private static void Write(Plot plot, string path, PlotFormat format, int width, int height)
    {
        var bytes = format == PlotFormat.Png
            ? plot.GetImageBytes(width, height, ImageFormat.Png)
            : Encoding.UTF8.GetBytes(plot.GetSvgXml(width, height));
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full) ?? ".");
        var temp = full + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, full, overwrite: true);
    }
}
