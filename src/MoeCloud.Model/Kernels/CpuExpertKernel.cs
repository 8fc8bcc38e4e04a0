using System.Buffers;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The CPU expert kernel. float32 weights: one GEMM for gate and up together (their rows are contiguous), the fused
/// SwiGLU, one GEMM for down; the GEMM is OpenBLAS where it loads, else <see cref="ManagedGemm"/> (<see cref="Gemm"/>),
/// and managed for a few tokens on a large weight (<see cref="ExpertKernelOptions.ManagedGemmMaxTokens"/>). bfloat16
/// weights: up to <see cref="ExpertKernelOptions.Bf16StreamingMaxTokens"/> tokens, a hand-written SIMD kernel that
/// streams the half-size weights once (memory-bound regime), in the flavour chosen once by CPU features
/// (<see cref="Bf16Path"/>: AVX-512F, AVX2 + FMA, or portable); above it, the weights are widened to float32 and take
/// the GEMM path (compute-bound regime). <see cref="Description"/> says which code runs. Thread-safe.
/// </summary>
public sealed unsafe class CpuExpertKernel : IExpertKernel
{
    private readonly ExpertKernelOptions _options;

    /// <summary>Creates the kernel; throws when the options are out of range (OpenBLAS asked for and missing included).</summary>
    public CpuExpertKernel(ExpertKernelOptions? options = null)
    {
        _options = (options ?? new ExpertKernelOptions()).Validate();
        Bf16Path = _options.Bf16Path ?? CpuFeatures.Detected.Best;
        Gemm = _options.Gemm ?? (OpenBlas.IsAvailable ? GemmBackend.OpenBlas : GemmBackend.Managed);
        if (Gemm == GemmBackend.OpenBlas)
        {
            OpenBlas.SetThreads(_options.Threads);
        }
    }

    /// <inheritdoc />
    public string Name => "cpu";

    /// <summary>The SIMD code that streams bfloat16 weights: <see cref="ExpertKernelOptions.Bf16Path"/>, or the CPU's best.</summary>
    public Bf16KernelPath Bf16Path { get; }

    /// <summary>The float32 GEMM: <see cref="ExpertKernelOptions.Gemm"/>, or OpenBLAS where it loads, else managed.</summary>
    public GemmBackend Gemm { get; }

    /// <summary>
    /// The expert backend's name: <c>cpu-</c> and the bfloat16 path (<c>cpu-avx2-fma</c>), with <c>-managed-gemm</c>
    /// appended when the float32 GEMM is not OpenBLAS.
    /// </summary>
    public string BackendName => "cpu-" + Bf16Path.ToName() + (Gemm == GemmBackend.Managed ? "-managed-gemm" : "");

    /// <summary>What runs, in words, for start-up logs: the bfloat16 path, the GEMM and why.</summary>
    public string Description => $"bfloat16 streaming {Bf16Path.ToName()} (CPU: {CpuFeatures.Detected}), float32 GEMM "
        + (Gemm == GemmBackend.OpenBlas
            ? $"OpenBLAS ({OpenBlas.LibraryPath}, {OpenBlas.IdleSpin}; managed for ≤ {_options.ManagedGemmMaxTokens} tokens on weights of ≥ {_options.ManagedGemmMinWeightFloats} floats)"
            : OpenBlas.IsAvailable ? "managed (asked for)" : "managed: OpenBLAS not found (apt-get install libopenblas0-pthread for the faster GEMM)");

    /// <inheritdoc />
    public void Forward(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ExpertKernelArguments.Check(weights, x, y, tokens);
        if (weights.DType == WeightDType.F32)
        {
            Fp32Ffn(weights.GateUpF32, weights.DownF32, weights, x, y, tokens);
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

    private void Fp32Ffn(ReadOnlySpan<float> gateUpW, ReadOnlySpan<float> downW, ExpertWeights w, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int h = w.Hidden, inter = w.Intermediate;
        var gateUp = ArrayPool<float>.Shared.Rent(tokens * 2 * inter);
        var act = ArrayPool<float>.Shared.Rent(tokens * inter);
        try
        {
            Multiply(x[..(tokens * h)], gateUpW, gateUp, tokens, 2 * inter, h);
            SwiGlu.Apply(gateUp, act, tokens, inter);
            Multiply(act.AsSpan(0, tokens * inter), downW, y, tokens, h, inter);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(act);
            ArrayPool<float>.Shared.Return(gateUp);
        }
    }

    /// <summary>
    /// <c>C[m, n] = A[m, k] · B[n, k]ᵀ</c> with <see cref="Gemm"/>, except that a few tokens on a large weight take the
    /// managed code (<see cref="ExpertKernelOptions.ManagedGemmMaxTokens"/>); the managed code splits B's rows over the threads.
    /// </summary>
    private void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k)
    {
        if (Gemm == GemmBackend.OpenBlas && (m > _options.ManagedGemmMaxTokens || (long)n * k < _options.ManagedGemmMinWeightFloats))
        {
            OpenBlas.GemmTransposedB(a, b, c, m, n, k);
            return;
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var (aP, bP, cP, aLength, bLength, cLength) = ((nint)pa, (nint)pb, (nint)pc, a.Length, b.Length, c.Length);
            ParallelChunks(n, (start, end) => ManagedGemm.GemmTransposedB(
                new ReadOnlySpan<float>((float*)aP, aLength), new ReadOnlySpan<float>((float*)bP, bLength), new Span<float>((float*)cP, cLength), m, n, k, start, end));
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
            Fp32Ffn(gateUp.AsSpan(0, 2 * n), down.AsSpan(0, n), w, x, y, tokens);
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
