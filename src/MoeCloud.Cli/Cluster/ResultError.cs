namespace MoeCloud.Cli.Cluster;

/// <summary>How far a cluster's result is from the single-process reference: the one measure every benchmark reports.</summary>
public static class ResultError
{
    /// <summary>max |actual − expected| / max |expected|; infinity when the shapes differ.</summary>
    public static double MaxRelative(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        if (expected.Length != actual.Length)
        {
            return double.PositiveInfinity;
        }

        double scale = 1e-12, worst = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(expected[i]));
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        return worst / scale;
    }
}
