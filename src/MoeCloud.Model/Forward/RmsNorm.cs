namespace MoeCloud.Model.Forward;

/// <summary>RMSNorm: <c>y = x / sqrt(mean(x²) + eps) · weight</c>, per token.</summary>
public static class RmsNorm
{
    /// <summary>Normalises <paramref name="tokens"/> rows of <paramref name="x"/> into <paramref name="y"/>.</summary>
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, double eps, Span<float> y, int tokens)
    {
        var h = weight.Length;
        if (x.Length < tokens * h || y.Length < tokens * h)
        {
            throw new ArgumentException($"RMSNorm of {tokens} tokens needs x and y of {tokens * h} values.");
        }

        for (var t = 0; t < tokens; t++)
        {
            var row = x.Slice(t * h, h);
            double sum = 0;
            foreach (var v in row)
            {
                sum += (double)v * v;
            }

            var scale = (float)(1 / Math.Sqrt((sum / h) + eps));
            var outRow = y.Slice(t * h, h);
            for (var i = 0; i < h; i++)
            {
                outRow[i] = row[i] * scale * weight[i];
            }
        }
    }
}
