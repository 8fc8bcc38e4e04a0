using System.Runtime.Intrinsics;

namespace MoeCloud.Model.Kernels;

/// <summary>The SwiGLU activation <c>a = silu(g) · u</c>, <c>silu(g) = g / (1 + e^(−g))</c>.</summary>
public static class SwiGlu
{
    /// <summary>
    /// For each of <paramref name="tokens"/> rows of <paramref name="gateUp"/> <c>[tokens, 2·intermediate]</c> (gate
    /// columns first, up columns after), writes <c>silu(gate) · up</c> to <paramref name="activation"/> <c>[tokens, intermediate]</c>.
    /// </summary>
    public static void Apply(ReadOnlySpan<float> gateUp, Span<float> activation, int tokens, int intermediate)
    {
        for (var t = 0; t < tokens; t++)
        {
            var row = gateUp.Slice(t * 2 * intermediate, 2 * intermediate);
            Apply(row[..intermediate], row[intermediate..], activation.Slice(t * intermediate, intermediate));
        }
    }

    /// <summary>Writes <c>silu(gate[i]) · up[i]</c> to <paramref name="activation"/>.</summary>
    public static void Apply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> activation)
    {
        var i = 0;
        var one = Vector512<float>.One;
        for (; i <= gate.Length - 16; i += 16)
        {
            var g = Vector512.Create(gate.Slice(i, 16));
            var u = Vector512.Create(up.Slice(i, 16));
            (g / (one + Vector512.Exp(-g)) * u).CopyTo(activation.Slice(i, 16));
        }

        for (; i < gate.Length; i++)
        {
            activation[i] = Silu(gate[i]) * up[i];
        }
    }

    /// <summary>silu(g).</summary>
    public static float Silu(float g) => g / (1f + MathF.Exp(-g));
}
