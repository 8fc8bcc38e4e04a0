using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// Dot products of bfloat16 weight rows with float32 token rows, for small token counts where the work is bound by
/// streaming weights. Rows are taken four at a time and the dot products in chunks of <see cref="Chunk"/> elements:
/// each chunk of the four rows is widened once to float32 (a bfloat16 widens by a 16-bit shift) into a 4 KiB tile,
/// then multiplied with every token, four tokens at a time (16 accumulators, kept in a small scratch between chunks).
/// The tile, the tokens' chunk and the scratch fit a 32 KiB L1 for up to 16 tokens, and every weight byte is read
/// from memory once however many tokens there are.
/// </summary>
internal static unsafe class Bf16Gemv
{
    private const int RowTile = 4;
    private const int Chunk = 256;
    private const int Lanes = 16;

    /// <summary>out[t·outStride + r] = dot(row r, x[t]) for rows [rowStart, rowEnd) of w <c>[rows, len]</c>.</summary>
    public static void Rows(ushort* w, int len, int rowStart, int rowEnd, float* x, int tokens, float* output, int outStride)
    {
        var vectorLen = len / Lanes * Lanes;
        var tileBuffer = ArrayPool<float>.Shared.Rent((RowTile * Chunk) + Lanes);
        var accBuffer = ArrayPool<float>.Shared.Rent((tokens * RowTile * Lanes) + Lanes);
        try
        {
            fixed (float* tilePinned = tileBuffer, accPinned = accBuffer)
            {
                var tile = Align(tilePinned);
                var acc = Align(accPinned);
                var r = rowStart;
                for (; r + RowTile <= rowEnd; r += RowTile)
                {
                    new Span<float>(acc, tokens * RowTile * Lanes).Clear();
                    for (var k = 0; k < vectorLen; k += Chunk)
                    {
                        var n = Math.Min(Chunk, vectorLen - k);
                        for (var j = 0; j < RowTile; j++)
                        {
                            Widen(w + ((long)(r + j) * len) + k, tile + (j * Chunk), n);
                        }

                        var t = 0;
                        for (; t + 4 <= tokens; t += 4)
                        {
                            Block4x4(tile, x + ((long)t * len) + k, len, n, acc + (t * RowTile * Lanes));
                        }

                        for (; t < tokens; t++)
                        {
                            Block4x1(tile, x + ((long)t * len) + k, n, acc + (t * RowTile * Lanes));
                        }
                    }

                    for (var t = 0; t < tokens; t++)
                    {
                        for (var j = 0; j < RowTile; j++)
                        {
                            var sum = Vector512.Sum(Vector512.Load(acc + (((t * RowTile) + j) * Lanes)));
                            output[((long)t * outStride) + r + j] = sum + Tail(w + ((long)(r + j) * len), x + ((long)t * len), vectorLen, len);
                        }
                    }
                }

                for (; r < rowEnd; r++)
                {
                    for (var t = 0; t < tokens; t++)
                    {
                        output[((long)t * outStride) + r] = Tail(w + ((long)r * len), x + ((long)t * len), 0, len);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(accBuffer);
            ArrayPool<float>.Shared.Return(tileBuffer);
        }
    }

    private static float* Align(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    private static void Widen(ushort* source, float* destination, int count)
    {
        for (var i = 0; i < count; i += Lanes)
        {
            var wide = Avx512F.ConvertToVector512UInt32(Vector256.Load(source + i));
            Avx512F.ShiftLeftLogical(wide, 16).AsSingle().Store(destination + i);
        }
    }

    /// <summary>Four tile rows × four tokens over <paramref name="n"/> elements, added to 16 accumulators at <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block4x4(float* tile, float* x, int xStride, int n, float* acc)
    {
        float* w0 = tile, w1 = tile + Chunk, w2 = tile + (2 * Chunk), w3 = tile + (3 * Chunk);
        float* x0 = x, x1 = x + xStride, x2 = x + (2 * xStride), x3 = x + (3 * xStride);
        Vector512<float> a00 = Vector512.Load(acc), a01 = Vector512.Load(acc + 16), a02 = Vector512.Load(acc + 32), a03 = Vector512.Load(acc + 48);
        Vector512<float> a10 = Vector512.Load(acc + 64), a11 = Vector512.Load(acc + 80), a12 = Vector512.Load(acc + 96), a13 = Vector512.Load(acc + 112);
        Vector512<float> a20 = Vector512.Load(acc + 128), a21 = Vector512.Load(acc + 144), a22 = Vector512.Load(acc + 160), a23 = Vector512.Load(acc + 176);
        Vector512<float> a30 = Vector512.Load(acc + 192), a31 = Vector512.Load(acc + 208), a32 = Vector512.Load(acc + 224), a33 = Vector512.Load(acc + 240);
        for (var i = 0; i < n; i += Lanes)
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

    /// <summary>Four tile rows × one token over <paramref name="n"/> elements, added to 4 accumulators at <paramref name="acc"/>.</summary>
    private static void Block4x1(float* tile, float* x, int n, float* acc)
    {
        float* w0 = tile, w1 = tile + Chunk, w2 = tile + (2 * Chunk), w3 = tile + (3 * Chunk);
        Vector512<float> a0 = Vector512.Load(acc), a1 = Vector512.Load(acc + 16), a2 = Vector512.Load(acc + 32), a3 = Vector512.Load(acc + 48);
        for (var i = 0; i < n; i += Lanes)
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

    /// <summary>Σ w[i]·x[i] for i in [from, len), scalar (the part that does not fill a vector).</summary>
    private static float Tail(ushort* w, float* x, int from, int len)
    {
        var s = 0f;
        for (var i = from; i < len; i++)
        {
            s += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        }

        return s;
    }
}
