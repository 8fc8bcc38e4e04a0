using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The AVX-512F flavour of <see cref="Bf16Gemv"/>: 16 lanes; blocks of four tile rows × four tokens in 16 zmm
/// accumulators (the weights and tokens of a step in 5 more of the 32 registers). Up to 16 tokens it widens in
/// registers (<see cref="Direct"/>, four tokens at a time): with 32 registers a widened weight vector serves four
/// tokens before it is dropped, and storing the tile and loading it back cost more than widening again per block.
/// </summary>
internal readonly unsafe struct Bf16Avx512 : IBf16Simd
{
    private const int Width = 16;

    /// <inheritdoc />
    public static int Lanes => Width;

    /// <inheritdoc />
    public static int TokensPerBlock => 4;

    /// <inheritdoc />
    public static float Sum(float* lanes) => Vector512.Sum(Vector512.Load(lanes));

    /// <inheritdoc />
    public static void Sum4(float* lanes, float* sums)
    {
        var s0 = Vector512.Load(lanes);
        var s1 = Vector512.Load(lanes + 16);
        var s2 = Vector512.Load(lanes + 32);
        var s3 = Vector512.Load(lanes + 48);
        Bf16Avx2.Sum4(s0.GetLower() + s0.GetUpper(), s1.GetLower() + s1.GetUpper(), s2.GetLower() + s2.GetUpper(), s3.GetLower() + s3.GetUpper(), sums);
    }

    /// <inheritdoc />
    public static void Widen(ushort* source, float* destination, int count)
    {
        for (var i = 0; i < count; i += Width)
        {
            var wide = Avx512F.ConvertToVector512UInt32(Vector256.Load(source + i));
            Avx512F.ShiftLeftLogical(wide, 16).AsSingle().Store(destination + i);
        }
    }

    /// <summary>Four tile rows × four tokens over <paramref name="n"/> elements, added to 16 accumulators at <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Block(float* tile, float* x, int xStride, int n, float* acc)
    {
        float* w0 = tile, w1 = tile + Bf16Gemv.Chunk, w2 = tile + (2 * Bf16Gemv.Chunk), w3 = tile + (3 * Bf16Gemv.Chunk);
        float* x0 = x, x1 = x + xStride, x2 = x + (2 * xStride), x3 = x + (3 * xStride);
        Vector512<float> a00 = Vector512.Load(acc), a01 = Vector512.Load(acc + 16), a02 = Vector512.Load(acc + 32), a03 = Vector512.Load(acc + 48);
        Vector512<float> a10 = Vector512.Load(acc + 64), a11 = Vector512.Load(acc + 80), a12 = Vector512.Load(acc + 96), a13 = Vector512.Load(acc + 112);
        Vector512<float> a20 = Vector512.Load(acc + 128), a21 = Vector512.Load(acc + 144), a22 = Vector512.Load(acc + 160), a23 = Vector512.Load(acc + 176);
        Vector512<float> a30 = Vector512.Load(acc + 192), a31 = Vector512.Load(acc + 208), a32 = Vector512.Load(acc + 224), a33 = Vector512.Load(acc + 240);
        for (var i = 0; i < n; i += Width)
        {
            Vector512<float> v0 = Vector512.Load(w0 + i), v1 = Vector512.Load(w1 + i), v2 = Vector512.Load(w2 + i), v3 = Vector512.Load(w3 + i);
            var xv = Vector512.Load(x0 + i);
            a00 = Avx512F.FusedMultiplyAdd(v0, xv, a00);
            a01 = Avx512F.FusedMultiplyAdd(v1, xv, a01);
            a02 = Avx512F.FusedMultiplyAdd(v2, xv, a02);
            a03 = Avx512F.FusedMultiplyAdd(v3, xv, a03);
            xv = Vector512.Load(x1 + i);
            a10 = Avx512F.FusedMultiplyAdd(v0, xv, a10);
            a11 = Avx512F.FusedMultiplyAdd(v1, xv, a11);
            a12 = Avx512F.FusedMultiplyAdd(v2, xv, a12);
            a13 = Avx512F.FusedMultiplyAdd(v3, xv, a13);
            xv = Vector512.Load(x2 + i);
            a20 = Avx512F.FusedMultiplyAdd(v0, xv, a20);
            a21 = Avx512F.FusedMultiplyAdd(v1, xv, a21);
            a22 = Avx512F.FusedMultiplyAdd(v2, xv, a22);
            a23 = Avx512F.FusedMultiplyAdd(v3, xv, a23);
            xv = Vector512.Load(x3 + i);
            a30 = Avx512F.FusedMultiplyAdd(v0, xv, a30);
            a31 = Avx512F.FusedMultiplyAdd(v1, xv, a31);
            a32 = Avx512F.FusedMultiplyAdd(v2, xv, a32);
            a33 = Avx512F.FusedMultiplyAdd(v3, xv, a33);
        }

        a00.Store(acc);
        a01.Store(acc + 16);
        a02.Store(acc + 32);
        a03.Store(acc + 48);
        a10.Store(acc + 64);
        a11.Store(acc + 80);
        a12.Store(acc + 96);
        a13.Store(acc + 112);
        a20.Store(acc + 128);
        a21.Store(acc + 144);
        a22.Store(acc + 160);
        a23.Store(acc + 176);
        a30.Store(acc + 192);
        a31.Store(acc + 208);
        a32.Store(acc + 224);
        a33.Store(acc + 240);
    }

    /// <inheritdoc />
    public static int DirectMaxTokens => 16;

    /// <inheritdoc />
    public static void Direct(ushort* w, int len, int n, float* x, int tokens, float* acc)
    {
        var t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            Direct4(w, len, n, x + ((long)t * len), acc + (t * Bf16Gemv.RowTile * Width));
        }

        for (; t + 2 <= tokens; t += 2)
        {
            Direct2(w, len, n, x + ((long)t * len), acc + (t * Bf16Gemv.RowTile * Width));
        }

        if (t < tokens)
        {
            Direct1(w, len, n, x + ((long)t * len), acc + (t * Bf16Gemv.RowTile * Width));
        }
    }

    private static Vector512<float> Load(ushort* w) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(w)), 16).AsSingle();

    /// <summary>Four rows × four tokens, widened in registers: 16 accumulators, 4 weights and one token vector in 21 of the 32 zmm registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct4(ushort* w0, int len, int n, float* x0, float* acc)
    {
        ushort* w1 = w0 + len, w2 = w1 + len, w3 = w2 + len;
        float* x1 = x0 + len, x2 = x1 + len, x3 = x2 + len;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default;
        for (var i = 0; i < n; i += Width)
        {
            Vector512<float> v0 = Load(w0 + i), v1 = Load(w1 + i), v2 = Load(w2 + i), v3 = Load(w3 + i);
            var xv = Vector512.Load(x0 + i);
            a00 = Avx512F.FusedMultiplyAdd(v0, xv, a00);
            a01 = Avx512F.FusedMultiplyAdd(v1, xv, a01);
            a02 = Avx512F.FusedMultiplyAdd(v2, xv, a02);
            a03 = Avx512F.FusedMultiplyAdd(v3, xv, a03);
            xv = Vector512.Load(x1 + i);
            a10 = Avx512F.FusedMultiplyAdd(v0, xv, a10);
            a11 = Avx512F.FusedMultiplyAdd(v1, xv, a11);
            a12 = Avx512F.FusedMultiplyAdd(v2, xv, a12);
            a13 = Avx512F.FusedMultiplyAdd(v3, xv, a13);
            xv = Vector512.Load(x2 + i);
            a20 = Avx512F.FusedMultiplyAdd(v0, xv, a20);
            a21 = Avx512F.FusedMultiplyAdd(v1, xv, a21);
            a22 = Avx512F.FusedMultiplyAdd(v2, xv, a22);
            a23 = Avx512F.FusedMultiplyAdd(v3, xv, a23);
            xv = Vector512.Load(x3 + i);
            a30 = Avx512F.FusedMultiplyAdd(v0, xv, a30);
            a31 = Avx512F.FusedMultiplyAdd(v1, xv, a31);
            a32 = Avx512F.FusedMultiplyAdd(v2, xv, a32);
            a33 = Avx512F.FusedMultiplyAdd(v3, xv, a33);
        }

        a00.Store(acc);
        a01.Store(acc + 16);
        a02.Store(acc + 32);
        a03.Store(acc + 48);
        a10.Store(acc + 64);
        a11.Store(acc + 80);
        a12.Store(acc + 96);
        a13.Store(acc + 112);
        a20.Store(acc + 128);
        a21.Store(acc + 144);
        a22.Store(acc + 160);
        a23.Store(acc + 176);
        a30.Store(acc + 192);
        a31.Store(acc + 208);
        a32.Store(acc + 224);
        a33.Store(acc + 240);
    }

    /// <summary>Four rows × two tokens, widened in registers: 8 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct2(ushort* w0, int len, int n, float* x0, float* acc)
    {
        ushort* w1 = w0 + len, w2 = w1 + len, w3 = w2 + len;
        var x1 = x0 + len;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
        for (var i = 0; i < n; i += Width)
        {
            Vector512<float> v0 = Load(w0 + i), v1 = Load(w1 + i), v2 = Load(w2 + i), v3 = Load(w3 + i);
            var xv = Vector512.Load(x0 + i);
            a00 = Avx512F.FusedMultiplyAdd(v0, xv, a00);
            a01 = Avx512F.FusedMultiplyAdd(v1, xv, a01);
            a02 = Avx512F.FusedMultiplyAdd(v2, xv, a02);
            a03 = Avx512F.FusedMultiplyAdd(v3, xv, a03);
            xv = Vector512.Load(x1 + i);
            a10 = Avx512F.FusedMultiplyAdd(v0, xv, a10);
            a11 = Avx512F.FusedMultiplyAdd(v1, xv, a11);
            a12 = Avx512F.FusedMultiplyAdd(v2, xv, a12);
            a13 = Avx512F.FusedMultiplyAdd(v3, xv, a13);
        }

        a00.Store(acc);
        a01.Store(acc + 16);
        a02.Store(acc + 32);
        a03.Store(acc + 48);
        a10.Store(acc + 64);
        a11.Store(acc + 80);
        a12.Store(acc + 96);
        a13.Store(acc + 112);
    }

    /// <summary>Four rows × one token, widened in registers: 4 accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Direct1(ushort* w0, int len, int n, float* x, float* acc)
    {
        ushort* w1 = w0 + len, w2 = w1 + len, w3 = w2 + len;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (var i = 0; i < n; i += Width)
        {
            var xv = Vector512.Load(x + i);
            a0 = Avx512F.FusedMultiplyAdd(Load(w0 + i), xv, a0);
            a1 = Avx512F.FusedMultiplyAdd(Load(w1 + i), xv, a1);
            a2 = Avx512F.FusedMultiplyAdd(Load(w2 + i), xv, a2);
            a3 = Avx512F.FusedMultiplyAdd(Load(w3 + i), xv, a3);
        }

        a0.Store(acc);
        a1.Store(acc + 16);
        a2.Store(acc + 32);
        a3.Store(acc + 48);
    }

    /// <summary>Four tile rows × one token over <paramref name="n"/> elements, added to 4 accumulators at <paramref name="acc"/>.</summary>
    public static void Block1(float* tile, float* x, int n, float* acc)
    {
        float* w0 = tile, w1 = tile + Bf16Gemv.Chunk, w2 = tile + (2 * Bf16Gemv.Chunk), w3 = tile + (3 * Bf16Gemv.Chunk);
        Vector512<float> a0 = Vector512.Load(acc), a1 = Vector512.Load(acc + 16), a2 = Vector512.Load(acc + 32), a3 = Vector512.Load(acc + 48);
        for (var i = 0; i < n; i += Width)
        {
            var xv = Vector512.Load(x + i);
            a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(w0 + i), xv, a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(w1 + i), xv, a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(w2 + i), xv, a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(w3 + i), xv, a3);
        }

        a0.Store(acc);
        a1.Store(acc + 16);
        a2.Store(acc + 32);
        a3.Store(acc + 48);
    }
}
