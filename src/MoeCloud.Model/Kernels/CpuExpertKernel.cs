using System.Buffers;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The CPU expert kernel. float32 weights: one OpenBLAS GEMM for gate and up together (their rows are contiguous),
/// the fused SwiGLU, one GEMM for down. bfloat16 weights: up to <see cref="ExpertKernelOptions.Bf16StreamingMaxTokens"/>
/// tokens, a hand-written SIMD kernel that streams the half-size weights once (memory-bound regime), in the flavour
/// chosen once by CPU features (<see cref="Bf16Path"/>: AVX-512F, AVX2 + FMA, or portable); above it, the weights are
/// widened to float32 and take the GEMM path (compute-bound regime). Thread-safe.
/// </summary>
public sealed unsafe class CpuExpertKernel : IExpertKernel
{
    private readonly ExpertKernelOptions _options;

    /// <summary>Creates the kernel; throws when OpenBLAS is missing or the options are out of range.</summary>
    public CpuExpertKernel(ExpertKernelOptions? options = null)
    {
        _options = (options ?? new ExpertKernelOptions()).Validate();
        Bf16Path = _options.Bf16Path ?? CpuFeatures.Detected.Best;
        OpenBlas.SetThreads(_options.Threads);
    }

    /// <inheritdoc />
    public string Name => "cpu";

    /// <summary>The SIMD code that streams bfloat16 weights: <see cref="ExpertKernelOptions.Bf16Path"/>, or the CPU's best.</summary>
    public Bf16KernelPath Bf16Path { get; }

    /// <inheritdoc />
    public void Forward(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ExpertKernelArguments.Check(weights, x, y, tokens);
        if (weights.DType == WeightDType.F32)
        {
            Gemm(weights.GateUpF32, weights.DownF32, weights, x, y, tokens);
        }
        else if (tokens <= _options.Bf16StreamingMaxTokens)
        {
            Streaming(weights, x, y, tokens);
        }
        else
        {
            WidenedGemm(weights, x, y, tokens);
        }
    }

    private static void Gemm(ReadOnlySpan<float> gateUpW, ReadOnlySpan<float> downW, ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int h = w.Hidden, inter = w.Intermediate;
        var gateUp = ArrayPool<float>.Shared.Rent(tokens * 2 * inter);
        var act = ArrayPool<float>.Shared.Rent(tokens * inter);
        try
        {
            OpenBlas.GemmTransposedB(x[..(tokens * h)], gateUpW, gateUp, tokens, 2 * inter, h);
            SwiGlu.Apply(gateUp, act, tokens, inter);
            OpenBlas.GemmTransposedB(act.AsSpan(0, tokens * inter), downW, y, tokens, h, inter);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(act);
            ArrayPool<float>.Shared.Return(gateUp);
        }
    }

    private void WidenedGemm(ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        var n = w.Hidden * w.Intermediate;
        var gateUp = ArrayPool<float>.Shared.Rent(2 * n);
        var down = ArrayPool<float>.Shared.Rent(n);
        try
        {
            ParallelChunks(2 * n, (start, end) => BFloat16.ToSingle(w.GateUpBf16[start..end], gateUp.AsSpan(start, end - start)));
            ParallelChunks(n, (start, end) => BFloat16.ToSingle(w.DownBf16[start..end], down.AsSpan(start, end - start)));
            Gemm(gateUp.AsSpan(0, 2 * n), down.AsSpan(0, n), w, x, y, tokens);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(down);
            ArrayPool<float>.Shared.Return(gateUp);
        }
    }

    private void Streaming(ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int h = w.Hidden, inter = w.Intermediate;
        var gate = ArrayPool<float>.Shared.Rent(tokens * inter);
        var up = ArrayPool<float>.Shared.Rent(tokens * inter);
        var act = ArrayPool<float>.Shared.Rent(tokens * inter);
        try
        {
            fixed (ushort* gu = w.GateUpBf16, dw = w.DownBf16)
            fixed (float* px = x, py = y, pg = gate, pu = up, pa = act)
            {
                var (guP, dwP, xP, yP, gP, uP, aP) = ((nint)gu, (nint)dw, (nint)px, (nint)py, (nint)pg, (nint)pu, (nint)pa);
                var path = Bf16Path;
                // 1. gate and up rows, split by row range; each thread owns whole output columns.
                ParallelChunks(inter, (start, end) =>
                {
                    Bf16Gemv.Rows(path, (ushort*)guP, h, start, end, (float*)xP, tokens, (float*)gP, inter);
                    Bf16Gemv.Rows(path, (ushort*)guP + ((long)inter * h), h, start, end, (float*)xP, tokens, (float*)uP, inter);
                });
                // 2. SwiGLU.
                for (var t = 0; t < tokens; t++)
                {
                    SwiGlu.Apply(gate.AsSpan(t * inter, inter), up.AsSpan(t * inter, inter), act.AsSpan(t * inter, inter));
                }

                // 3. down rows.
                ParallelChunks(h, (start, end) => Bf16Gemv.Rows(path, (ushort*)dwP, inter, start, end, (float*)aP, tokens, (float*)yP, h));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(act);
            ArrayPool<float>.Shared.Return(up);
            ArrayPool<float>.Shared.Return(gate);
        }
    }

    /// <summary>Runs <paramref name="body"/> over [0, count) split into one chunk per thread (multiples of four rows).</summary>
    private void ParallelChunks(int count, Action<int, int> body)
    {
        var threads = Math.Min(_options.Threads, Math.Max(1, count / 64));
        if (threads == 1)
        {
            body(0, count);
            return;
        }

        var chunk = ((count / threads) + 3) & ~3;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            var start = Math.Min(count, i * chunk);
            var end = i == threads - 1 ? count : Math.Min(count, start + chunk);
            if (end > start)
            {
                body(start, end);
            }
        });
    }
}
