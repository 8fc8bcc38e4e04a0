using System.Numerics;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The portable flavour of <see cref="Bf16Gemv"/>: <see cref="Vector{T}"/> code that is correct on any CPU (128-bit
/// SSE or NEON, 256-bit AVX2, or the runtime's software vectors). Blocks of four tile rows × two tokens; widening by
/// <see cref="Vector.Widen(Vector{ushort}, out Vector{uint}, out Vector{uint})"/> and a 16-bit left shift; the
/// multiply-add is <see cref="Vector.MultiplyAddEstimate(Vector{float}, Vector{float}, Vector{float})"/> (fused where
/// the CPU has FMA, a multiply and an add elsewhere).
/// </summary>
internal readonly unsafe struct Bf16Portable : IBf16Simd
{
    private const int C = Bf16Gemv.Chunk;

    /// <inheritdoc />
    public static int Lanes => Vector<float>.Count;

    /// <inheritdoc />
    public static int TokensPerBlock => 2;

    /// <inheritdoc />
    public static float Sum(float* lanes) => Vector.Sum(Vector.Load(lanes));

    /// <inheritdoc />
    public static void Sum4(float* lanes, float* sums)
    {
        for (var j = 0; j < Bf16Gemv.RowTile; j++)
        {
            sums[j] = Sum(lanes + (j * Lanes));
        }
    }

    /// <inheritdoc />
    public static int DirectMaxTokens => 0;

    /// <inheritdoc />
    public static void Direct(ushort* w, int len, int n, float* x, int tokens, float* acc) =>
        throw new NotSupportedException("The portable flavour widens into the tile for every token count.");

    /// <inheritdoc />
    public static void Widen(ushort* source, float* destination, int count)
    {
        var i = 0;
        for (; i + Vector<ushort>.Count <= count; i += Vector<ushort>.Count)
        {
            Vector.Widen(Vector.Load(source + i), out var low, out var high);
            Vector.AsVectorSingle(Vector.ShiftLeft(low, 16)).Store(destination + i);
            Vector.AsVectorSingle(Vector.ShiftLeft(high, 16)).Store(destination + i + Vector<uint>.Count);
        }

        for (; i < count; i++)
        {
            destination[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
        }
    }

    /// <summary>Four tile rows × two tokens over <paramref name="n"/> elements; accumulators <c>a{token}{row}</c>.</summary>
    public static void Block(float* tile, float* x, int xStride, int n, float* acc)
    {
        var lanes = Vector<float>.Count;
        var y = x + xStride;
        Vector<float> a00 = Vector.Load(acc), a01 = Vector.Load(acc + lanes), a02 = Vector.Load(acc + (2 * lanes)), a03 = Vector.Load(acc + (3 * lanes));
        Vector<float> a10 = Vector.Load(acc + (4 * lanes)), a11 = Vector.Load(acc + (5 * lanes)), a12 = Vector.Load(acc + (6 * lanes)), a13 = Vector.Load(acc + (7 * lanes));
        for (var i = 0; i < n; i += lanes)
        {
            var xi = Vector.Load(x + i);
            var yi = Vector.Load(y + i);
            var w = Vector.Load(tile + i);
            a00 = Vector.MultiplyAddEstimate(w, xi, a00);
            a10 = Vector.MultiplyAddEstimate(w, yi, a10);
            w = Vector.Load(tile + C + i);
            a01 = Vector.MultiplyAddEstimate(w, xi, a01);
            a11 = Vector.MultiplyAddEstimate(w, yi, a11);
            w = Vector.Load(tile + (2 * C) + i);
            a02 = Vector.MultiplyAddEstimate(w, xi, a02);
            a12 = Vector.MultiplyAddEstimate(w, yi, a12);
            w = Vector.Load(tile + (3 * C) + i);
            a03 = Vector.MultiplyAddEstimate(w, xi, a03);
            a13 = Vector.MultiplyAddEstimate(w, yi, a13);
        }

        a00.Store(acc);
        a01.Store(acc + lanes);
        a02.Store(acc + (2 * lanes));
        a03.Store(acc + (3 * lanes));
        a10.Store(acc + (4 * lanes));
        a11.Store(acc + (5 * lanes));
        a12.Store(acc + (6 * lanes));
        a13.Store(acc + (7 * lanes));
    }

    /// <summary>Four tile rows × one token over <paramref name="n"/> elements.</summary>
    public static void Block1(float* tile, float* x, int n, float* acc)
    {
        var lanes = Vector<float>.Count;
        Vector<float> a0 = Vector.Load(acc), a1 = Vector.Load(acc + lanes), a2 = Vector.Load(acc + (2 * lanes)), a3 = Vector.Load(acc + (3 * lanes));
        for (var i = 0; i < n; i += lanes)
        {
            var xi = Vector.Load(x + i);
            a0 = Vector.MultiplyAddEstimate(Vector.Load(tile + i), xi, a0);
            a1 = Vector.MultiplyAddEstimate(Vector.Load(tile + C + i), xi, a1);
            a2 = Vector.MultiplyAddEstimate(Vector.Load(tile + (2 * C) + i), xi, a2);
            a3 = Vector.MultiplyAddEstimate(Vector.Load(tile + (3 * C) + i), xi, a3);
        }

        a0.Store(acc);
        a1.Store(acc + lanes);
        a2.Store(acc + (2 * lanes));
        a3.Store(acc + (3 * lanes));
    }
}
