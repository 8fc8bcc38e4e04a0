using System.Text.Json.Serialization;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Cli.Commands;

/// <summary>One row of <c>moectl bench kernel</c>.</summary>
/// <param name="Tokens">Tokens per call.</param>
/// <param name="DType">Weight dtype of the expert kernel (the baseline is always float32).</param>
/// <param name="Gflops">Expert kernel GFLOP/s (6·tokens·hidden·intermediate per call).</param>
/// <param name="BaselineGflops">OpenBLAS three-sgemm baseline GFLOP/s, same run.</param>
/// <param name="Ratio">Gflops / BaselineGflops.</param>
/// <param name="VsFp32">Tokens/s relative to the float32 expert kernel in the same run.</param>
/// <param name="MillisecondsPerCall">Expert kernel milliseconds per call.</param>
public sealed record KernelBenchRow(int Tokens, [property: JsonPropertyName("dtype")] string DType, double Gflops, double BaselineGflops, double Ratio, double VsFp32, double MillisecondsPerCall);

/// <summary>What <c>moectl bench kernel --json</c> prints: the CPU, the bfloat16 path that ran, and the rows.</summary>
/// <param name="Bf16Path">The bfloat16 streaming path that ran (<c>avx512</c>, <c>avx2-fma</c> or <c>portable</c>).</param>
/// <param name="Gemm">The expert kernel's float32 GEMM (<c>openblas</c> or <c>managed</c>).</param>
/// <param name="Cpu">The CPU features detected (those that choose the path).</param>
/// <param name="Rows">One row per token count and dtype.</param>
/// <param name="OpenBlasIdleSpin">How long OpenBLAS's idle threads spin (<see cref="OpenBlas.IdleSpin"/>).</param>
public sealed record KernelBenchReport(string Bf16Path, string Gemm, CpuFeatures Cpu, IReadOnlyList<KernelBenchRow> Rows, string OpenBlasIdleSpin);

/// <summary>
/// The expert FFN against its baseline, side by side in one process: the baseline is the same three GEMMs (gate, up,
/// down) by OpenBLAS <c>cblas_sgemm</c> on float32 weights, without the activation.
/// </summary>
internal static class KernelBenchmark
{
    public static KernelBenchReport Run(int hidden, int intermediate, IReadOnlyList<int> tokenCounts, CpuExpertKernel kernel, int rounds, double roundSeconds)
    {
        var (f32, bf16, gate, up, down) = Weights(hidden, intermediate);
        var rows = new List<KernelBenchRow>();
        foreach (var tokens in tokenCounts)
        {
            var x = new float[tokens * hidden];
            for (var i = 0; i < x.Length; i++)
            {
                x[i] = (float)(Math.Sin(i * 0.37) * 0.5);
            }

            var y = new float[tokens * hidden];
            var g = new float[tokens * intermediate];
            var u = new float[tokens * intermediate];
            var baseline = () =>
            {
                OpenBlas.GemmTransposedB(x, gate, g, tokens, intermediate, hidden);
                OpenBlas.GemmTransposedB(x, up, u, tokens, intermediate, hidden);
                OpenBlas.GemmTransposedB(g, down, y, tokens, hidden, intermediate);
            };
            // Untimed first: the first token count would otherwise be timed on code the JIT has not optimised yet.
            BenchTiming.MedianSeconds([baseline, () => kernel.Forward(f32, x, y, tokens), () => kernel.Forward(bf16, x, y, tokens)], rounds: 2, roundSeconds);
            var times = BenchTiming.MedianSeconds([baseline, () => kernel.Forward(f32, x, y, tokens), () => kernel.Forward(bf16, x, y, tokens)], rounds, roundSeconds);
            var flops = 6.0 * tokens * hidden * intermediate;
            double baseGflops = flops / times[0] / 1e9, fp32 = flops / times[1] / 1e9, half = flops / times[2] / 1e9;
            rows.Add(new KernelBenchRow(tokens, "fp32", fp32, baseGflops, fp32 / baseGflops, 1.0, times[1] * 1e3));
            rows.Add(new KernelBenchRow(tokens, "bf16", half, baseGflops, half / baseGflops, times[1] / times[2], times[2] * 1e3));
        }

        return new KernelBenchReport(kernel.Bf16Path.ToName(), kernel.Gemm.ToString().ToLowerInvariant(), CpuFeatures.Detected, rows, OpenBlas.IdleSpin);
    }

    private static (ExpertWeights F32, ExpertWeights Bf16, float[] Gate, float[] Up, float[] Down) Weights(int hidden, int intermediate)
    {
        var n = hidden * intermediate;
        var rng = new Random(7);
        float[] Fill(double std)
        {
            var a = new float[n];
            for (var i = 0; i < n; i++)
            {
                a[i] = (float)((rng.NextDouble() - 0.5) * std * 3.4641);
            }

            return a;
        }

        var gate = Fill(1 / Math.Sqrt(hidden));
        var up = Fill(1 / Math.Sqrt(hidden));
        var down = Fill(1 / Math.Sqrt(intermediate));
        return (ExpertWeights.FromProjections(hidden, intermediate, gate, up, down, WeightDType.F32),
            ExpertWeights.FromProjections(hidden, intermediate, gate, up, down, WeightDType.BF16), gate, up, down);
    }
}
