namespace MoeCloud.Model.Kernels;

/// <summary>Options of <see cref="CpuExpertKernel"/>.</summary>
public sealed record ExpertKernelOptions
{
    /// <summary>Threads per call (OpenBLAS threads and the bfloat16 kernel's row split). Default 2, range [1, 256].</summary>
    public int Threads { get; init; } = 2;

    /// <summary>
    /// Largest token count for which bfloat16 weights are streamed by the SIMD kernel; above it they are widened to
    /// float32 and multiplied by OpenBLAS. Default 128: in <c>moectl bench kernel --bf16-streaming-max 0|4096</c> the
    /// streaming kernel was faster than widening at 32, 64 and 128 tokens. Range [0, 4096].
    /// </summary>
    public int Bf16StreamingMaxTokens { get; init; } = 128;

    /// <summary>
    /// The SIMD code that streams bfloat16 weights. Default null: the fastest the CPU supports
    /// (<see cref="CpuFeatures.Best"/>: AVX-512F, else AVX2 with FMA, else portable). Set it to compare paths on one
    /// machine; a path the CPU cannot run is a validation error.
    /// </summary>
    public Bf16KernelPath? Bf16Path { get; init; }

    /// <summary>
    /// The float32 GEMM. Default null: OpenBLAS where it loads (<see cref="OpenBlas.IsAvailable"/>), else the managed
    /// SIMD code (<see cref="ManagedGemm"/>), so that a machine without <c>libopenblas0-pthread</c> still serves.
    /// Asking for OpenBLAS where it does not load is a validation error.
    /// </summary>
    public GemmBackend? Gemm { get; init; }

    /// <summary>
    /// Where the GEMM is OpenBLAS, calls of at most this many tokens on a weight of at least
    /// <see cref="ManagedGemmMinWeightFloats"/> floats take the managed GEMM instead. OpenBLAS copies (packs) the
    /// weight on every call, which for a large weight and a few tokens costs more than the multiply: in
    /// <c>moectl bench kernel --gemm managed</c> (hidden 2048, intermediate 1408, two threads) the managed GEMM was
    /// 2.8–3.7× OpenBLAS at 1 token, 1.6–2.0× at 2 and 4, 1.1× at 8 and 0.8–0.9× at 16. Default 8; 0 turns it off.
    /// Range [0, 4096].
    /// </summary>
    public int ManagedGemmMaxTokens { get; init; } = 8;

    /// <summary>
    /// The smallest weight (floats of one GEMM's B) for <see cref="ManagedGemmMaxTokens"/>: OpenBLAS multiplies small
    /// matrices without packing them, and there it was faster (the demo model's 128 × 128 gate and up: the managed GEMM
    /// at 0.5–0.6× of it). Default 262,144 (1 MiB of float32).
    /// </summary>
    public int ManagedGemmMinWeightFloats { get; init; } = 1 << 18;

    /// <summary>Throws <see cref="ArgumentException"/> listing every out-of-range option, checking <see cref="Bf16Path"/> against this CPU.</summary>
    public ExpertKernelOptions Validate() => Validate(CpuFeatures.Detected);

    /// <summary>Throws <see cref="ArgumentException"/> listing every out-of-range option, checking <see cref="Bf16Path"/> against <paramref name="cpu"/>.</summary>
    public ExpertKernelOptions Validate(CpuFeatures cpu)
    {
        ArgumentNullException.ThrowIfNull(cpu);
        var problems = new List<string>();
        if (Threads is < 1 or > 256)
        {
            problems.Add($"Threads must be in [1, 256], got {Threads}");
        }

        if (Bf16StreamingMaxTokens is < 0 or > 4096)
        {
            problems.Add($"Bf16StreamingMaxTokens must be in [0, 4096], got {Bf16StreamingMaxTokens}");
        }

        if (Bf16Path is { } path && !Enum.IsDefined(path))
        {
            problems.Add($"Bf16Path must be one of {string.Join(", ", Bf16KernelPaths.All.Select(p => p.ToName()))}, got {(int)path}");
        }
        else if (Bf16Path is { } wanted && !cpu.Supports(wanted))
        {
            problems.Add($"Bf16Path {wanted.ToName()} needs CPU features this CPU lacks (detected: {cpu})");
        }

        if (ManagedGemmMaxTokens is < 0 or > 4096)
        {
            problems.Add($"ManagedGemmMaxTokens must be in [0, 4096], got {ManagedGemmMaxTokens}");
        }

        if (ManagedGemmMinWeightFloats < 0)
        {
            problems.Add($"ManagedGemmMinWeightFloats must be non-negative, got {ManagedGemmMinWeightFloats}");
        }

        if (Gemm is { } gemm && !Enum.IsDefined(gemm))
        {
            problems.Add($"Gemm must be one of {string.Join(", ", Enum.GetNames<GemmBackend>())}, got {(int)gemm}");
        }
        else if (Gemm == GemmBackend.OpenBlas && !OpenBlas.IsAvailable)
        {
            problems.Add($"Gemm OpenBlas needs OpenBLAS, which is not installed ({OpenBlas.MissingMessage})");
        }

        return problems.Count == 0 ? this : throw new ArgumentException($"Invalid expert kernel options: {string.Join("; ", problems)}.");
    }
}

/// <summary>The code that multiplies float32 matrices in <see cref="CpuExpertKernel"/>.</summary>
public enum GemmBackend
{
    /// <summary><c>openblas</c>: OpenBLAS's <c>cblas_sgemm</c>, loaded at run time.</summary>
    OpenBlas,

    /// <summary><c>managed</c>: <see cref="ManagedGemm"/>, for machines without OpenBLAS.</summary>
    Managed,
}
