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
