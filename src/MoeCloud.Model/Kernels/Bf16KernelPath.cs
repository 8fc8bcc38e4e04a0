using System.Numerics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Serialization;

namespace MoeCloud.Model.Kernels;

/// <summary>The SIMD code that streams bfloat16 expert weights in <see cref="CpuExpertKernel"/>.</summary>
public enum Bf16KernelPath
{
    /// <summary><c>portable</c>: <see cref="Vector{T}"/> code, correct on any CPU (SSE, NEON, or software).</summary>
    Portable,

    /// <summary><c>avx2-fma</c>: 256-bit AVX2 widening and FMA3 multiply-adds.</summary>
    Avx2Fma,

    /// <summary><c>avx512</c>: 512-bit AVX-512F widening and multiply-adds.</summary>
    Avx512,
}

/// <summary>Names of <see cref="Bf16KernelPath"/> as printed by <c>moectl bench kernel</c> and accepted by its <c>--bf16-path</c>.</summary>
public static class Bf16KernelPaths
{
    /// <summary>Every path, slowest first.</summary>
    public static IReadOnlyList<Bf16KernelPath> All { get; } = [Bf16KernelPath.Portable, Bf16KernelPath.Avx2Fma, Bf16KernelPath.Avx512];

    /// <summary><c>portable</c>, <c>avx2-fma</c> or <c>avx512</c>.</summary>
    public static string ToName(this Bf16KernelPath path) => path switch
    {
        Bf16KernelPath.Portable => "portable",
        Bf16KernelPath.Avx2Fma => "avx2-fma",
        Bf16KernelPath.Avx512 => "avx512",
        _ => throw new ArgumentOutOfRangeException(nameof(path), path, "Unknown bfloat16 kernel path."),
    };

    /// <summary>The path named <paramref name="name"/> (as <see cref="ToName"/> writes it); throws <see cref="ArgumentException"/> otherwise.</summary>
    public static Bf16KernelPath Parse(string name)
    {
        foreach (var path in All)
        {
            if (string.Equals(path.ToName(), name, StringComparison.OrdinalIgnoreCase))
            {
                return path;
            }
        }

        throw new ArgumentException($"Unknown bfloat16 kernel path '{name}'; expected one of {string.Join(", ", All.Select(p => p.ToName()))}.", nameof(name));
    }
}

/// <summary>
/// The CPU features that decide the bfloat16 kernel path. <see cref="Avx512F"/>, <see cref="Avx2"/> and <see cref="Fma"/>
/// are what the .NET runtime uses (its <c>IsSupported</c>, so <c>DOTNET_EnableAVX512F=0</c> and similar switches count);
/// <see cref="F16C"/> is read from CPUID and only reported (the kernels widen bfloat16 with integer shifts, not F16C).
/// </summary>
/// <param name="Avx512F">AVX-512 Foundation.</param>
/// <param name="Avx2">AVX2.</param>
/// <param name="Fma">FMA3.</param>
/// <param name="F16C">Half-precision conversions.</param>
public sealed record CpuFeatures(bool Avx512F, bool Avx2, bool Fma, bool F16C)
{
    /// <summary>The features of the CPU this process runs on, read once.</summary>
    public static CpuFeatures Detected { get; } = new(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, System.Runtime.Intrinsics.X86.Avx2.IsSupported, System.Runtime.Intrinsics.X86.Fma.IsSupported, HasF16C());

    /// <summary>The fastest path these features run: AVX-512F, else AVX2 with FMA, else portable.</summary>
    [JsonIgnore]
    public Bf16KernelPath Best => Avx512F ? Bf16KernelPath.Avx512 : Avx2 && Fma ? Bf16KernelPath.Avx2Fma : Bf16KernelPath.Portable;

    /// <summary>Whether <paramref name="path"/> can run with these features.</summary>
    public bool Supports(Bf16KernelPath path) => path switch
    {
        Bf16KernelPath.Portable => true,
        Bf16KernelPath.Avx2Fma => Avx2 && Fma,
        Bf16KernelPath.Avx512 => Avx512F,
        _ => false,
    };

    /// <summary>The features that are present, e.g. <c>Avx512F Avx2 Fma F16C</c>, or <c>none</c>.</summary>
    public override string ToString()
    {
        string[] present = [Avx512F ? "Avx512F" : "", Avx2 ? "Avx2" : "", Fma ? "Fma" : "", F16C ? "F16C" : ""];
        var text = string.Join(' ', present.Where(p => p.Length > 0));
        return text.Length == 0 ? "none" : text;
    }

    private static bool HasF16C() => X86Base.IsSupported && (X86Base.CpuId(1, 0).Ecx & (1 << 29)) != 0;
}
