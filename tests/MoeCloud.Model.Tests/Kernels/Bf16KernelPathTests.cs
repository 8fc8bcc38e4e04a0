using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using static MoeCloud.Model.Tests.Kernels.ExpertKernelTests;

namespace MoeCloud.Model.Tests.Kernels;

/// <summary>A theory that runs only where the CPU supports the bfloat16 kernel path; skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class Bf16PathTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when this CPU cannot run <paramref name="path"/>.</summary>
    public Bf16PathTheoryAttribute(Bf16KernelPath path)
    {
        if (!CpuFeatures.Detected.Supports(path))
        {
            Skip = $"This CPU cannot run the {path.ToName()} bfloat16 path (detected: {CpuFeatures.Detected}).";
        }
    }
}

public sealed class Bf16KernelPathTests
{
    // Hidden 300 spans two chunks of 256 with a tail of 44 (not a multiple of 8 or 16 lanes); intermediate 45 leaves
    // a row past the last tile of four. Token counts cover one token, odd counts, and full token blocks with a remainder,
    // on both sides of each flavour's limit for widening in registers (avx2-fma: 4 tokens; avx512: 16).
    private const int Hidden = 300;
    private const int Intermediate = 45;

    [Bf16PathTheory(Bf16KernelPath.Portable)]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(17)]
    public void Forward_WhenPortablePath_MatchesTheScalarKernel(int tokens) => AssertPathMatchesScalar(Bf16KernelPath.Portable, tokens);

    [Bf16PathTheory(Bf16KernelPath.Avx2Fma)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(16)]
    [InlineData(17)]
    public void Forward_WhenAvx2FmaPath_MatchesTheScalarKernel(int tokens) => AssertPathMatchesScalar(Bf16KernelPath.Avx2Fma, tokens);

    [Bf16PathTheory(Bf16KernelPath.Avx512)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(16)]
    [InlineData(17)]
    public void Forward_WhenAvx512Path_MatchesTheScalarKernel(int tokens) => AssertPathMatchesScalar(Bf16KernelPath.Avx512, tokens);

    [Bf16PathTheory(Bf16KernelPath.Avx2Fma)]
    [InlineData(Bf16KernelPath.Portable, 7, 5)]
    [InlineData(Bf16KernelPath.Avx2Fma, 7, 5)]
    [InlineData(Bf16KernelPath.Avx2Fma, 13, 9)]
    [InlineData(Bf16KernelPath.Avx2Fma, 264, 136)]
    public void Forward_WhenSizesAreBelowOneVectorOrSplitAcrossThreads_MatchesTheScalarKernel(Bf16KernelPath path, int hidden, int intermediate)
    {
        // Hidden 7 is shorter than one vector (all tail); 264 × 136 gives each of two threads its own rows.
        var weights = RandomExpert(hidden, intermediate, WeightDType.BF16, seed: hidden);
        var x = RandomVector(5 * hidden, seed: intermediate);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, 5);

        new CpuExpertKernel(new ExpertKernelOptions { Bf16Path = path, Threads = 2 }).Forward(weights, x, actual, 5);

        AssertClose(expected, actual, 1e-5);
    }

    [Fact]
    public void Bf16Path_WhenNotSet_IsTheBestPathOfThisCpu()
    {
        var kernel = new CpuExpertKernel();

        Assert.Equal(CpuFeatures.Detected.Best, kernel.Bf16Path);
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, CpuFeatures.Detected.Avx512F);
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported, CpuFeatures.Detected.Supports(Bf16KernelPath.Avx2Fma));
    }

    [Fact]
    public void Bf16Path_WhenSet_IsThePathAsked()
    {
        var kernel = new CpuExpertKernel(new ExpertKernelOptions { Bf16Path = Bf16KernelPath.Portable });

        Assert.Equal(Bf16KernelPath.Portable, kernel.Bf16Path);
    }

    [Theory]
    [InlineData(true, true, true, Bf16KernelPath.Avx512)]
    [InlineData(true, false, false, Bf16KernelPath.Avx512)]
    [InlineData(false, true, true, Bf16KernelPath.Avx2Fma)]
    [InlineData(false, true, false, Bf16KernelPath.Portable)]
    [InlineData(false, false, true, Bf16KernelPath.Portable)]
    [InlineData(false, false, false, Bf16KernelPath.Portable)]
    public void Best_ForCpuFeatures_IsAvx512ThenAvx2FmaThenPortable(bool avx512F, bool avx2, bool fma, Bf16KernelPath expected)
    {
        var cpu = new CpuFeatures(avx512F, avx2, fma, F16C: true);

        Assert.Equal(expected, cpu.Best);
        Assert.True(cpu.Supports(expected));
        Assert.True(cpu.Supports(Bf16KernelPath.Portable));
    }

    [Fact]
    public void Validate_WhenPathNeedsFeaturesTheCpuLacks_ReportsThePathAndTheFeatures()
    {
        var avx2Only = new CpuFeatures(Avx512F: false, Avx2: true, Fma: true, F16C: true);

        var e = Assert.Throws<ArgumentException>(() => new ExpertKernelOptions { Bf16Path = Bf16KernelPath.Avx512, Threads = 0 }.Validate(avx2Only));

        Assert.Contains("Bf16Path avx512 needs CPU features this CPU lacks (detected: Avx2 Fma F16C)", e.Message, StringComparison.Ordinal);
        Assert.Contains("Threads", e.Message, StringComparison.Ordinal);
        new ExpertKernelOptions { Bf16Path = Bf16KernelPath.Avx2Fma }.Validate(avx2Only);
    }

    [Fact]
    public void Validate_WhenPathIsUndefined_ReportsIt()
    {
        var e = Assert.Throws<ArgumentException>(() => new ExpertKernelOptions { Bf16Path = (Bf16KernelPath)7 }.Validate());

        Assert.Contains("Bf16Path must be one of portable, avx2-fma, avx512, got 7", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("portable", Bf16KernelPath.Portable)]
    [InlineData("avx2-fma", Bf16KernelPath.Avx2Fma)]
    [InlineData("AVX512", Bf16KernelPath.Avx512)]
    public void Parse_WhenNameIsKnown_ReturnsThePath(string name, Bf16KernelPath expected)
    {
        Assert.Equal(expected, Bf16KernelPaths.Parse(name));
        Assert.Equal(name.ToLowerInvariant(), expected.ToName());
    }

    [Fact]
    public void Parse_WhenNameIsUnknown_ThrowsWithTheKnownNames()
    {
        var e = Assert.Throws<ArgumentException>(() => Bf16KernelPaths.Parse("sse"));

        Assert.Contains("expected one of portable, avx2-fma, avx512", e.Message, StringComparison.Ordinal);
    }

    private static void AssertPathMatchesScalar(Bf16KernelPath path, int tokens)
    {
        var weights = RandomExpert(Hidden, Intermediate, WeightDType.BF16, seed: 20 + tokens);
        var x = RandomVector(tokens * Hidden, seed: 40 + tokens);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, tokens);

        new CpuExpertKernel(new ExpertKernelOptions { Bf16Path = path, Threads = 1 }).Forward(weights, x, actual, tokens);

        AssertClose(expected, actual, 1e-5);
    }
}
