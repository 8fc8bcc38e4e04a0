using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Tests.Kernels;

public sealed class ExpertKernelTests
{
    [Theory]
    [InlineData(WeightDType.F32, 1)]
    [InlineData(WeightDType.F32, 7)]
    [InlineData(WeightDType.F32, 40)]
    [InlineData(WeightDType.BF16, 1)]
    [InlineData(WeightDType.BF16, 3)]
    [InlineData(WeightDType.BF16, 9)]
    [InlineData(WeightDType.BF16, 40)]
    public void Forward_MatchesTheScalarKernel(WeightDType dtype, int tokens)
    {
        // Hidden 80 and intermediate 50 exercise the SIMD tails (not multiples of 32) and odd row counts.
        var weights = RandomExpert(hidden: 80, intermediate: 50, dtype, seed: tokens);
        var x = RandomVector(tokens * 80, seed: 100 + tokens);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, tokens);

        new CpuExpertKernel().Forward(weights, x, actual, tokens);

        AssertClose(expected, actual, 1e-4);
    }

    [Theory]
    [InlineData(WeightDType.BF16, 5)]
    [InlineData(WeightDType.F32, 5)]
    public void Forward_WhenRowsAreSplitAcrossThreads_MatchesTheScalarKernel(WeightDType dtype, int tokens)
    {
        // 136 and 264 rows give each of the two threads a chunk (with a tile remainder in the second).
        var weights = RandomExpert(hidden: 264, intermediate: 136, dtype, seed: 8);
        var x = RandomVector(tokens * 264, seed: 9);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, tokens);

        new CpuExpertKernel(new ExpertKernelOptions { Threads = 2 }).Forward(weights, x, actual, tokens);

        AssertClose(expected, actual, 1e-4);
    }

    [Theory]
    [InlineData(WeightDType.F32, 1, 1)]
    [InlineData(WeightDType.F32, 7, 1)]
    [InlineData(WeightDType.F32, 40, 2)]
    [InlineData(WeightDType.BF16, 9, 2)]
    public void Forward_WithTheManagedGemm_MatchesTheScalarKernel(WeightDType dtype, int tokens, int threads)
    {
        // Hidden 81 and intermediate 67: odd row counts (the two-row blocks' remainder), k tails past the last vector,
        // token counts that are not multiples of four; bf16 is widened (streaming limit 0) so that it takes the GEMM too.
        var weights = RandomExpert(hidden: 81, intermediate: 67, dtype, seed: 20 + tokens);
        var x = RandomVector(tokens * 81, seed: 30 + tokens);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, tokens);
        var kernel = new CpuExpertKernel(new ExpertKernelOptions { Gemm = GemmBackend.Managed, Threads = threads, Bf16StreamingMaxTokens = 0 });

        kernel.Forward(weights, x, actual, tokens);

        Assert.Equal(GemmBackend.Managed, kernel.Gemm);
        Assert.EndsWith("-managed-gemm", kernel.BackendName, StringComparison.Ordinal);
        AssertClose(expected, actual, 1e-4);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(9)]
    public void Forward_WhenFewTokensOnALargeWeightTakeTheManagedGemm_MatchesTheScalarKernel(int tokens)
    {
        // A minimum weight of 0 makes every call of at most 8 tokens "large": 1 and 8 take the managed GEMM beside
        // OpenBLAS, 9 takes OpenBLAS (or, where OpenBLAS is missing, every call is managed anyway).
        var weights = RandomExpert(hidden: 72, intermediate: 40, WeightDType.F32, seed: 60 + tokens);
        var x = RandomVector(tokens * 72, seed: 70 + tokens);
        var expected = new float[x.Length];
        var actual = new float[x.Length];
        new ScalarExpertKernel().Forward(weights, x, expected, tokens);

        new CpuExpertKernel(new ExpertKernelOptions { ManagedGemmMaxTokens = 8, ManagedGemmMinWeightFloats = 0 }).Forward(weights, x, actual, tokens);

        AssertClose(expected, actual, 1e-4);
    }

    [Fact]
    public void Gemm_ByDefault_IsOpenBlasWhereItLoadsAndManagedWhereItDoesNot()
    {
        var kernel = new CpuExpertKernel();

        Assert.Equal(OpenBlas.IsAvailable ? GemmBackend.OpenBlas : GemmBackend.Managed, kernel.Gemm);
        Assert.Contains(OpenBlas.IsAvailable ? "float32 GEMM OpenBLAS" : "float32 GEMM managed: OpenBLAS not found", kernel.Description, StringComparison.Ordinal);
        Assert.Contains(kernel.Bf16Path.ToName(), kernel.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void ManagedGemm_WhenRowRangeOrShapesDoNotFit_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => ManagedGemm.GemmTransposedB(new float[6], new float[6], new float[4], 2, 2, 3, 0, 3));
        Assert.Throws<ArgumentException>(() => ManagedGemm.GemmTransposedB(new float[5], new float[6], new float[4], 2, 2, 3, 0, 2));
    }

    [Fact]
    public void Forward_WhenBf16AboveTheStreamingLimit_MatchesBelowIt()
    {
        var weights = RandomExpert(64, 96, WeightDType.BF16, seed: 3);
        var x = RandomVector(12 * 64, seed: 4);
        var streamed = new float[x.Length];
        var widened = new float[x.Length];

        new CpuExpertKernel(new ExpertKernelOptions { Bf16StreamingMaxTokens = 64 }).Forward(weights, x, streamed, 12);
        new CpuExpertKernel(new ExpertKernelOptions { Bf16StreamingMaxTokens = 0 }).Forward(weights, x, widened, 12);

        AssertClose(widened, streamed, 1e-5);
    }

    [Fact]
    public void Forward_WhenCalledFromManyThreadsAtOnce_GivesEachCallerItsOwnResult()
    {
        var kernel = new CpuExpertKernel();
        var experts = Enumerable.Range(0, 4).Select(i => RandomExpert(64, 48, i % 2 == 0 ? WeightDType.F32 : WeightDType.BF16, seed: i)).ToArray();
        var inputs = Enumerable.Range(0, 16).Select(i => RandomVector(5 * 64, seed: 50 + i)).ToArray();
        var expected = inputs.Select((x, i) =>
        {
            var y = new float[x.Length];
            new ScalarExpertKernel().Forward(experts[i % 4], x, y, 5);
            return y;
        }).ToArray();
        var actual = inputs.Select(x => new float[x.Length]).ToArray();

        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, call => kernel.Forward(experts[call % 16 % 4], inputs[call % 16], actual[call % 16], 5));

        for (var i = 0; i < inputs.Length; i++)
        {
            AssertClose(expected[i], actual[i], 1e-4);
        }
    }

    [Fact]
    public void Forward_WhenSpansAreTooShort_ThrowsArgumentException()
    {
        var weights = RandomExpert(16, 8, WeightDType.F32, seed: 1);
        var kernel = new CpuExpertKernel();

        var e = Assert.Throws<ArgumentException>(() => kernel.Forward(weights, new float[16], new float[32], 2));
        Assert.Contains("tokens × hidden = 2 × 16 = 32", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => kernel.Forward(weights, new float[16], new float[16], 0));
    }

    [Fact]
    public void Options_WhenOutOfRange_ReportsEveryProblem()
    {
        var e = Assert.Throws<ArgumentException>(() => new ExpertKernelOptions { Threads = 0, Bf16StreamingMaxTokens = -1, ManagedGemmMaxTokens = 5000, ManagedGemmMinWeightFloats = -1 }.Validate());

        Assert.Contains("Threads", e.Message, StringComparison.Ordinal);
        Assert.Contains("Bf16StreamingMaxTokens", e.Message, StringComparison.Ordinal);
        Assert.Contains("ManagedGemmMaxTokens must be in [0, 4096], got 5000", e.Message, StringComparison.Ordinal);
        Assert.Contains("ManagedGemmMinWeightFloats must be non-negative, got -1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_WhenGemmIsUndefined_NamesTheKnownGemms()
    {
        var e = Assert.Throws<ArgumentException>(() => new ExpertKernelOptions { Gemm = (GemmBackend)7 }.Validate());

        Assert.Contains("Gemm must be one of OpenBlas, Managed, got 7", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ExpertWeights_WhenProjectionsHaveWrongLengths_Throws()
    {
        Assert.Throws<ArgumentException>(() => ExpertWeights.FromProjections(4, 2, new float[8], new float[8], new float[7], WeightDType.F32));
        Assert.Throws<ArgumentException>(() => ExpertWeights.FromF32(4, 2, new float[15], new float[8]));
    }

    [Fact]
    public void BFloat16_RoundTripsAndFlagsNonFinite()
    {
        float[] values = [1f, -2.5f, 3.140625f, 0f];
        var bits = new ushort[4];
        var back = new float[4];

        BFloat16.FromSingle(values, bits);
        BFloat16.ToSingle(bits, back);

        Assert.Equal(values, back);
        Assert.Equal(-1, BFloat16.IndexOfNonFinite(bits));
        Assert.Equal(2, BFloat16.IndexOfNonFinite([BFloat16.FromSingle(1), 0, BFloat16.FromSingle(float.PositiveInfinity)]));
        Assert.Equal(17, BFloat16.IndexOfNonFinite(Enumerable.Range(0, 40).Select(i => i == 17 ? float.NaN : i).ToArray()));
    }

    internal static ExpertWeights RandomExpert(int hidden, int intermediate, WeightDType dtype, int seed)
    {
        var n = hidden * intermediate;
        return ExpertWeights.FromProjections(hidden, intermediate, RandomVector(n, seed, 1 / Math.Sqrt(hidden)), RandomVector(n, seed + 1, 1 / Math.Sqrt(hidden)), RandomVector(n, seed + 2, 1 / Math.Sqrt(intermediate)), dtype);
    }

    internal static float[] RandomVector(int n, int seed, double scale = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale * 1.7)).ToArray();
    }

    internal static void AssertClose(float[] expected, float[] actual, double relative)
    {
        var scale = expected.Max(v => Math.Abs(v));
        Assert.True(scale > 0, "the reference output is all zeros: the test would prove nothing");
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * scale, $"element {i}: expected {expected[i]}, got {actual[i]} (scale {scale})");
        }
    }
}
