using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The AVX2 + FMA3 flavour of <see cref="Bf16Gemv"/>, for CPUs without AVX-512: 8 lanes. A block is four tile rows ×
/// three tokens, which fills the 16 ymm registers exactly: 12 accumulators (independent FMA chains, enough to cover
/// the FMA latency at two per cycle), the three tokens' vectors and one weight vector at a time, so a step loads 7
/// vectors for 12 FMAs (the JIT keeps all of it in registers; no spills). Widening is <c>vpmovzxwd</c> (zero-extend
/// 8 bfloat16 to 32 bits) and a 16-bit left shift. Up to 4 tokens it widens in registers instead (<see cref="Direct"/>,
/// two tokens at a time, which is what 16 registers hold: 8 accumulators and 4 weight vectors).
/// </summary>
internal readonly unsafe struct Bf16Avx2 : IBf16Simd
{
    private const int Width = 8;
    private const int C = Bf16Gemv.Chunk;

    /// <inheritdoc />
    public static int Lanes => Width;

    /// <inheritdoc />
    public static int TokensPerBlock => 3;

    /// <inheritdoc />
    public static float Sum(float* lanes) => Vector256.Sum(Vector256.Load(lanes));

    /// <inheritdoc />
    public static void Sum4(float* lanes, float* sums) =>
        Sum4(Vector256.Load(lanes), Vector256.Load(lanes + 8), Vector256.Load(lanes + 16), Vector256.Load(lanes + 24), sums);

    /// <summary>sums[j] = the sum of the 8 lanes of vector j: two horizontal adds pair the lanes, then the 128-bit halves are added.</summary>
    public static void Sum4(Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3, float* sums)
    {
        var h = Avx.HorizontalAdd(Avx.HorizontalAdd(s0, s1), Avx.HorizontalAdd(s2, s3));
        (h.GetLower() + h.GetUpper()).Store(sums);
    }

    /// <inheritdoc />
    public static void Widen(ushort* source, float* destination, int count)
    {
        for (var i = 0; i < count; i += Width)
        {
            var wide = Avx2.ConvertToVector256Int32(source + i);
            Avx2.ShiftLeftLogical(wide, 16).AsSingle().Store(destination + i);
        }

        // The blocks that multiply this chunk load no weights, so the hardware prefetcher does not run ahead of the
        // next widening; ask for the row's next chunk now (a prefetch past the end of the weights does not fault).
        var next = (byte*)(source + count);
        for (var b = 0; b < count * sizeof(ushort); b += 64)
        {
            Sse.Prefetch0(next + b);
        }
    }

    /// <inheritdoc />
    public static int DirectMaxTokens => 4;

    /// <inheritdoc />
    public static void Direct(ushort* w, int len, int n, float* x, int tokens, float* acc)
    {
        var t = 0;
        for (; t + 2 <= tokens; t += 2)
        {
            Direct2(w, len, n, x + ((long)t * len), acc + (t * Bf16Gemv.RowTile * Width));
        }

        if (t < tokens)
        {
            Direct1(w, len, n, x + ((long)t * len), acc + (t * Bf16Gemv.RowTile * Width));
        }
    }

    private static Vector256<float> Load(ushort* w) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(w), 16).AsSingle();

    /// <summary>Four rows × two tokens, widened in registers: 8 accumulators, 4 weights and one token vector in the 16 ymm registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct2(ushort* w0, int len, int n, float* x0, float* acc)
    {
        ushort* w1 = w0 + len, w2 = w1 + len, w3 = w2 + len;
        var x1 = x0 + len;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        for (var i = 0; i < n; i += Width)
        {
            Vector256<float> v0 = Load(w0 + i), v1 = Load(w1 + i), v2 = Load(w2 + i), v3 = Load(w3 + i);
            var xv = Vector256.Load(x0 + i);
            a00 = Fma.MultiplyAdd(v0, xv, a00);
            a01 = Fma.MultiplyAdd(v1, xv, a01);
            a02 = Fma.MultiplyAdd(v2, xv, a02);
            a03 = Fma.MultiplyAdd(v3, xv, a03);
            xv = Vector256.Load(x1 + i);
            a10 = Fma.MultiplyAdd(v0, xv, a10);
            a11 = Fma.MultiplyAdd(v1, xv, a11);
            a12 = Fma.MultiplyAdd(v2, xv, a12);
            a13 = Fma.MultiplyAdd(v3, xv, a13);
        }

        a00.Store(acc);
        a01.Store(acc + 8);
        a02.Store(acc + 16);
        a03.Store(acc + 24);
        a10.Store(acc + 32);
        a11.Store(acc + 40);
        a12.Store(acc + 48);
        a13.Store(acc + 56);
    }

    /// <summary>Four rows × one token, widened in registers: 4 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct1(ushort* w0, int len, int n, float* x, float* acc)
    {
        ushort* w1 = w0 + len, w2 = w1 + len, w3 = w2 + len;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (var i = 0; i < n; i += Width)
        {
            var xv = Vector256.Load(x + i);
            a0 = Fma.MultiplyAdd(Load(w0 + i), xv, a0);
            a1 = Fma.MultiplyAdd(Load(w1 + i), xv, a1);
            a2 = Fma.MultiplyAdd(Load(w2 + i), xv, a2);
            a3 = Fma.MultiplyAdd(Load(w3 + i), xv, a3);
        }

        a0.Store(acc);
        a1.Store(acc + 8);
        a2.Store(acc + 16);
        a3.Store(acc + 24);
    }

    /// <summary>Four tile rows × three tokens over <paramref name="n"/> elements; accumulators <c>a{token}{row}</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float* tile, float* x, int xStride, int n, float* acc)
    {
        float* y = x + xStride, z = x + (2 * xStride);
        Vector256<float> a00 = Vector256.Load(acc), a01 = Vector256.Load(acc + 8), a02 = Vector256.Load(acc + 16), a03 = Vector256.Load(acc + 24);
        Vector256<float> a10 = Vector256.Load(acc + 32), a11 = Vector256.Load(acc + 40), a12 = Vector256.Load(acc + 48), a13 = Vector256.Load(acc + 56);
        Vector256<float> a20 = Vector256.Load(acc + 64), a21 = Vector256.Load(acc + 72), a22 = Vector256.Load(acc + 80), a23 = Vector256.Load(acc + 88);
        for (var i = 0; i < n; i += Width)
        {
            var xi = Vector256.Load(x + i);
            var yi = Vector256.Load(y + i);
            var zi = Vector256.Load(z + i);
            var w = Vector256.Load(tile + i);
            a00 = Fma.MultiplyAdd(w, xi, a00);
            a10 = Fma.MultiplyAdd(w, yi, a10);
            a20 = Fma.MultiplyAdd(w, zi, a20);
            w = Vector256.Load(tile + C + i);
            a01 = Fma.MultiplyAdd(w, xi, a01);
            a11 = Fma.MultiplyAdd(w, yi, a11);
            a21 = Fma.MultiplyAdd(w, zi, a21);
            w = Vector256.Load(tile + (2 * C) + i);
            a02 = Fma.MultiplyAdd(w, xi, a02);
            a12 = Fma.MultiplyAdd(w, yi, a12);
            a22 = Fma.MultiplyAdd(w, zi, a22);
            w = Vector256.Load(tile + (3 * C) + i);
            a03 = Fma.MultiplyAdd(w, xi, a03);
            a13 = Fma.MultiplyAdd(w, yi, a13);
            a23 = Fma.MultiplyAdd(w, zi, a23);
        }

        a00.Store(acc);
        a01.Store(acc + 8);
        a02.Store(acc + 16);
        a03.Store(acc + 24);
        a10.Store(acc + 32);
        a11.Store(acc + 40);
        a12.Store(acc + 48);
        a13.Store(acc + 56);
        a20.Store(acc + 64);
        a21.Store(acc + 72);
        a22.Store(acc + 80);
        a23.Store(acc + 88);
    }

    /// <summary>
    /// Four tile rows × one token. Two steps per iteration into two sets of four accumulators (eight chains of FMAs
    /// in flight), added together at the end; a last single step when <paramref name="n"/> is an odd number of vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block1(float* tile, float* x, int n, float* acc)
    {
        Vector256<float> a0 = Vector256.Load(acc), a1 = Vector256.Load(acc + 8), a2 = Vector256.Load(acc + 16), a3 = Vector256.Load(acc + 24);
        Vector256<float> b0 = Vector256<float>.Zero, b1 = Vector256<float>.Zero, b2 = Vector256<float>.Zero, b3 = Vector256<float>.Zero;
        var i = 0;
        for (; i + (2 * Width) <= n; i += 2 * Width)
        {
            var xi = Vector256.Load(x + i);
            var xj = Vector256.Load(x + i + Width);
            a0 = Fma.MultiplyAdd(Vector256.Load(tile + i), xi, a0);
            b0 = Fma.MultiplyAdd(Vector256.Load(tile + i + Width), xj, b0);
            a1 = Fma.MultiplyAdd(Vector256.Load(tile + C + i), xi, a1);
            b1 = Fma.MultiplyAdd(Vector256.Load(tile + C + i + Width), xj, b1);
            a2 = Fma.MultiplyAdd(Vector256.Load(tile + (2 * C) + i), xi, a2);
            b2 = Fma.MultiplyAdd(Vector256.Load(tile + (2 * C) + i + Width), xj, b2);
            a3 = Fma.MultiplyAdd(Vector256.Load(tile + (3 * C) + i), xi, a3);
            b3 = Fma.MultiplyAdd(Vector256.Load(tile + (3 * C) + i + Width), xj, b3);
        }

        if (i < n)
        {
            var xi = Vector256.Load(x + i);
            a0 = Fma.MultiplyAdd(Vector256.Load(tile + i), xi, a0);
            a1 = Fma.MultiplyAdd(Vector256.Load(tile + C + i), xi, a1);
            a2 = Fma.MultiplyAdd(Vector256.Load(tile + (2 * C) + i), xi, a2);
            a3 = Fma.MultiplyAdd(Vector256.Load(tile + (3 * C) + i), xi, a3);
        }

        (a0 + b0).Store(acc);
        (a1 + b1).Store(acc + 8);
        (a2 + b2).Store(acc + 16);
        (a3 + b3).Store(acc + 24);
    }
}
