using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;

namespace MoeCloud.Runtime.Tests;

/// <summary>Seeded random requests and result comparison.</summary>
internal static class RequestFactory
{
    public static float[] Hidden(int tokens, int hidden, int seed)
    {
        var rng = new Random(seed);
        var values = new float[tokens * hidden];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)((rng.NextDouble() * 2) - 1);
        }

        return values;
    }

    public static ForwardRequest Forward(string model, int first, int last, float[] hidden, int tokens, int hiddenSize) => new()
    {
        Model = model,
        FirstLayer = first,
        LastLayer = last,
        Hidden = TensorCodec.WriteMatrix(hidden, tokens, hiddenSize),
    };

    public static double MaxRelativeError(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = 0, worst = 0;
        foreach (var v in expected)
        {
            scale = Math.Max(scale, Math.Abs(v));
        }

        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]) / Math.Max(scale, 1e-12));
        }

        return worst;
    }
}
