using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// <c>C[m, n] = A[m, k] · B[n, k]ᵀ</c> in managed SIMD code, for machines without OpenBLAS. Both operands are
/// row-major with <c>k</c> contiguous, so every output is a dot product; the loop takes two rows of B and four rows of
/// A at a time (eight accumulators of <see cref="Vector256{T}"/>, six loads per eight fused multiply-adds), and each
/// row of B is read once per block of four tokens. The JIT lowers <see cref="Vector256{T}"/> to AVX2 + FMA where the CPU
/// has them and to narrower code where it does not. Slower than OpenBLAS at large <c>m</c> (no cache blocking of A),
/// close to it at the token counts of a decode step.
/// </summary>
public static unsafe class ManagedGemm
{
    private const int Lanes = 8;

    /// <summary>Rows [<paramref name="rowStart"/>, <paramref name="rowEnd"/>) of B, so that threads can split the columns of C.</summary>
    public static void GemmTransposedB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, int rowStart, int rowEnd)
    {
        if (m <= 0 || n <= 0 || k <= 0 || a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n
            || rowStart < 0 || rowEnd > n || rowStart > rowEnd)
        {
            throw new ArgumentException($"GEMM shapes do not fit: m={m}, n={n}, k={k}, rows [{rowStart}, {rowEnd}), |A|={a.Length}, |B|={b.Length}, |C|={c.Length}.");
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var j = rowStart;
            for (; j + 1 < rowEnd; j += 2)
            {
                var t = 0;
                for (; t + 3 < m; t += 4)
                {
                    Block2x4(pb + ((long)j * k), pa + ((long)t * k), k, pc + ((long)t * n) + j, n);
                }

                for (; t < m; t++)
                {
                    pc[((long)t * n) + j] = Dot(pb + ((long)j * k), pa + ((long)t * k), k);
                    pc[((long)t * n) + j + 1] = Dot(pb + ((long)(j + 1) * k), pa + ((long)t * k), k);
                }
            }

            for (; j < rowEnd; j++)
            {
                for (var t = 0; t < m; t++)
                {
                    pc[((long)t * n) + j] = Dot(pb + ((long)j * k), pa + ((long)t * k), k);
                }
            }
        }
    }

    /// <summary>c[t·ldc + r] = dot(b row r, a row t) for r in {0, 1}, t in [0, 4).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x4(float* b0, float* a0, int k, float* c, int ldc)
    {
        float* b1 = b0 + k, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
        Vector256<float> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector256<float> s10 = default, s11 = default, s12 = default, s13 = default;
        var i = 0;
        for (; i + Lanes <= k; i += Lanes)
        {
            var w0 = Vector256.Load(b0 + i);
            var w1 = Vector256.Load(b1 + i);
            var x = Vector256.Load(a0 + i);
            s00 = Vector256.FusedMultiplyAdd(w0, x, s00);
            s10 = Vector256.FusedMultiplyAdd(w1, x, s10);
            x = Vector256.Load(a1 + i);
            s01 = Vector256.FusedMultiplyAdd(w0, x, s01);
            s11 = Vector256.FusedMultiplyAdd(w1, x, s11);
            x = Vector256.Load(a2 + i);
            s02 = Vector256.FusedMultiplyAdd(w0, x, s02);
            s12 = Vector256.FusedMultiplyAdd(w1, x, s12);
            x = Vector256.Load(a3 + i);
            s03 = Vector256.FusedMultiplyAdd(w0, x, s03);
            s13 = Vector256.FusedMultiplyAdd(w1, x, s13);
        }

        float r00 = Vector256.Sum(s00), r01 = Vector256.Sum(s01), r02 = Vector256.Sum(s02), r03 = Vector256.Sum(s03);
        float r10 = Vector256.Sum(s10), r11 = Vector256.Sum(s11), r12 = Vector256.Sum(s12), r13 = Vector256.Sum(s13);
        for (; i < k; i++)
        {
            float w0 = b0[i], w1 = b1[i];
            r00 += w0 * a0[i];
            r01 += w0 * a1[i];
            r02 += w0 * a2[i];
            r03 += w0 * a3[i];
            r10 += w1 * a0[i];
            r11 += w1 * a1[i];
            r12 += w1 * a2[i];
            r13 += w1 * a3[i];
        }

        c[0] = r00;
        c[1] = r10;
        c[ldc] = r01;
        c[ldc + 1] = r11;
        c[2 * ldc] = r02;
        c[(2 * ldc) + 1] = r12;
        c[3 * ldc] = r03;
        c[(3 * ldc) + 1] = r13;
    }

    private static float Dot(float* w, float* x, int k)
    {
        var s = Vector256<float>.Zero;
        var i = 0;
        for (; i + Lanes <= k; i += Lanes)
        {
            s = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), Vector256.Load(x + i), s);
        }

        var r = Vector256.Sum(s);
        for (; i < k; i++)
        {
            r += w[i] * x[i];
        }

        return r;
    }
}
