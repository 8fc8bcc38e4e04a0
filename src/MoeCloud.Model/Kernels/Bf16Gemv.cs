using System.Buffers;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// One SIMD flavour of the bfloat16 dot-product kernel: how to widen a run of bfloat16 weights to float32 and how to
/// multiply <see cref="Bf16Gemv.RowTile"/> widened rows with a block of tokens. Accumulators are laid out
/// <c>[token][row][lane]</c>, <see cref="Lanes"/> floats per (token, row).
/// </summary>
internal unsafe interface IBf16Simd
{
    /// <summary>Floats per vector; the driver hands the SIMD code element counts that are multiples of it.</summary>
    static abstract int Lanes { get; }

    /// <summary>Tokens that <see cref="Block"/> multiplies at once.</summary>
    static abstract int TokensPerBlock { get; }

    /// <summary>destination[i] = float32(source[i]) for i in [0, count), count a multiple of <see cref="Lanes"/>.</summary>
    static abstract void Widen(ushort* source, float* destination, int count);

    /// <summary>
    /// For <see cref="TokensPerBlock"/> tokens (rows of <paramref name="x"/>, <paramref name="xStride"/> apart) and the
    /// <see cref="Bf16Gemv.RowTile"/> tile rows (<see cref="Bf16Gemv.Chunk"/> apart): adds the products over
    /// <paramref name="n"/> elements to the accumulators at <paramref name="acc"/>.
    /// </summary>
    static abstract void Block(float* tile, float* x, int xStride, int n, float* acc);

    /// <summary><see cref="Block"/> for one token.</summary>
    static abstract void Block1(float* tile, float* x, int n, float* acc);

    /// <summary>The sum of the <see cref="Lanes"/> floats at <paramref name="lanes"/>.</summary>
    static abstract float Sum(float* lanes);

    /// <summary>
    /// The sums of the <see cref="Bf16Gemv.RowTile"/> (four) runs of <see cref="Lanes"/> floats at <paramref name="lanes"/>,
    /// stored at <paramref name="sums"/>[0..4) (one transposing reduction instead of four).
    /// </summary>
    static abstract void Sum4(float* lanes, float* sums);

    /// <summary>
    /// Most tokens for which <see cref="Direct"/> runs instead of the widened tile (0: never). With this few tokens
    /// a weight vector is used too few times to pay for storing it widened and loading it back.
    /// </summary>
    static abstract int DirectMaxTokens { get; }

    /// <summary>
    /// For <see cref="Bf16Gemv.RowTile"/> bfloat16 rows at <paramref name="w"/> (<paramref name="len"/> apart) and
    /// <paramref name="tokens"/> (at most <see cref="DirectMaxTokens"/>) token rows at <paramref name="x"/>
    /// (<paramref name="len"/> apart): widens each weight vector in registers, multiplies it with every token over
    /// the first <paramref name="n"/> elements, and stores (not adds) the accumulators at <paramref name="acc"/>.
    /// </summary>
    static abstract void Direct(ushort* w, int len, int n, float* x, int tokens, float* acc);
}

/// <summary>
/// Dot products of bfloat16 weight rows with float32 token rows, for small token counts where the work is bound by
/// streaming weights. Rows go <see cref="RowTile"/> at a time; each row's dot products go in chunks of
/// <see cref="Chunk"/> elements. A chunk of the tile's rows is widened to float32 once (a bfloat16 is the high half of
/// a float32) into a 4 KiB buffer that stays in L1, and is then multiplied with every token, a block of tokens at a
/// time, so each weight byte is read from memory once however many tokens there are. The SIMD flavour
/// (<see cref="IBf16Simd"/>) decides the vector width and the register blocking; the elements past the last full
/// vector of a row, and the rows past the last full tile, are done in scalar code here.
/// </summary>
internal static unsafe class Bf16Gemv
{
    /// <summary>Weight rows widened and multiplied together.</summary>
    public const int RowTile = 4;

    /// <summary>Elements of each row widened at once (a multiple of every flavour's lane count).</summary>
    public const int Chunk = 256;

    private const int AlignFloats = 16;

    /// <summary>out[t·outStride + r] = dot(row r, x[t]) for rows [rowStart, rowEnd) of w <c>[rows, len]</c>, with <paramref name="path"/>'s code.</summary>
    public static void Rows(Bf16KernelPath path, ushort* w, int len, int rowStart, int rowEnd, float* x, int tokens, float* output, int outStride)
    {
        switch (path)
        {
            case Bf16KernelPath.Avx512:
                Rows<Bf16Avx512>(w, len, rowStart, rowEnd, x, tokens, output, outStride);
                break;
            case Bf16KernelPath.Avx2Fma:
                Rows<Bf16Avx2>(w, len, rowStart, rowEnd, x, tokens, output, outStride);
                break;
            default:
                Rows<Bf16Portable>(w, len, rowStart, rowEnd, x, tokens, output, outStride);
                break;
        }
    }

    private static void Rows<TSimd>(ushort* w, int len, int rowStart, int rowEnd, float* x, int tokens, float* output, int outStride)
        where TSimd : IBf16Simd
    {
        var lanes = TSimd.Lanes;
        var vectorLen = len - (len % lanes);
        var accFloats = tokens * RowTile * lanes;
        if (tokens <= TSimd.DirectMaxTokens)
        {
            var direct = stackalloc float[accFloats];
            var r = rowStart;
            for (; r + RowTile <= rowEnd; r += RowTile)
            {
                TSimd.Direct(w + ((long)r * len), len, vectorLen, x, tokens, direct);
                Reduce<TSimd>(w, len, vectorLen, r, x, tokens, direct, output, outStride);
            }

            Remainder(w, len, r, rowEnd, x, tokens, output, outStride);
            return;
        }

        var buffer = ArrayPool<float>.Shared.Rent((RowTile * Chunk) + accFloats + (2 * AlignFloats));
        try
        {
            fixed (float* pinned = buffer)
            {
                // 1. A 64-byte aligned tile, then the accumulators right after it (the tile's size keeps them aligned).
                var tile = (float*)(((nint)pinned + 63) & ~(nint)63);
                var acc = tile + (RowTile * Chunk);
                var r = rowStart;
                for (; r + RowTile <= rowEnd; r += RowTile)
                {
                    new Span<float>(acc, accFloats).Clear();
                    // 2. Chunk by chunk: widen the tile's rows, then every token block multiplies them.
                    for (var k = 0; k < vectorLen; k += Chunk)
                    {
                        var n = Math.Min(Chunk, vectorLen - k);
                        for (var j = 0; j < RowTile; j++)
                        {
                            TSimd.Widen(w + ((long)(r + j) * len) + k, tile + (j * Chunk), n);
                        }

                        var t = 0;
                        for (; t + TSimd.TokensPerBlock <= tokens; t += TSimd.TokensPerBlock)
                        {
                            TSimd.Block(tile, x + ((long)t * len) + k, len, n, acc + (t * RowTile * lanes));
                        }

                        for (; t < tokens; t++)
                        {
                            TSimd.Block1(tile, x + ((long)t * len) + k, n, acc + (t * RowTile * lanes));
                        }
                    }

                    // 3. Reduce the lanes and add the elements past the last full vector.
                    Reduce<TSimd>(w, len, vectorLen, r, x, tokens, acc, output, outStride);
                }

                // 4. Rows past the last full tile.
                Remainder(w, len, r, rowEnd, x, tokens, output, outStride);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes the tile at row <paramref name="r"/>: each accumulator's lanes summed, plus the elements past <paramref name="vectorLen"/>.</summary>
    private static void Reduce<TSimd>(ushort* w, int len, int vectorLen, int r, float* x, int tokens, float* acc, float* output, int outStride)
        where TSimd : IBf16Simd
    {
        for (var t = 0; t < tokens; t++)
        {
            var o = output + ((long)t * outStride) + r;
            TSimd.Sum4(acc + (t * RowTile * TSimd.Lanes), o);
            if (vectorLen < len)
            {
                for (var j = 0; j < RowTile; j++)
                {
                    o[j] += ScalarDot(w + ((long)(r + j) * len), x + ((long)t * len), vectorLen, len);
                }
            }
        }
    }

    /// <summary>Rows [<paramref name="r"/>, <paramref name="rowEnd"/>), fewer than a tile, in scalar code.</summary>
    private static void Remainder(ushort* w, int len, int r, int rowEnd, float* x, int tokens, float* output, int outStride)
    {
        for (; r < rowEnd; r++)
        {
            for (var t = 0; t < tokens; t++)
            {
                output[((long)t * outStride) + r] = ScalarDot(w + ((long)r * len), x + ((long)t * len), 0, len);
            }
        }
    }

    /// <summary>Σ float32(w[i])·x[i] for i in [from, len), scalar.</summary>
    private static float ScalarDot(ushort* w, float* x, int from, int len)
    {
        var s = 0f;
        for (var i = from; i < len; i++)
        {
            s += BitConverter.Int32BitsToSingle(w[i] << 16) * x[i];
        }

        return s;
    }
}
