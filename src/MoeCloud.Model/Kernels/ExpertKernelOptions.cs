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

    /// <summary>Throws <see cref="ArgumentException"/> listing every out-of-range option.</summary>
    public ExpertKernelOptions Validate()
    {
        var problems = new List<string>();
        if (Threads is < 1 or > 256)
        {
            problems.Add($"Threads must be in [1, 256], got {Threads}");
        }

        if (Bf16StreamingMaxTokens is < 0 or > 4096)
        {
            problems.Add($"Bf16StreamingMaxTokens must be in [0, 4096], got {Bf16StreamingMaxTokens}");
        }

        return problems.Count == 0 ? this : throw new ArgumentException($"Invalid expert kernel options: {string.Join("; ", problems)}.");
    }
}
