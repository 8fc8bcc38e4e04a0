using System.Text.Json.Serialization;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;

namespace MoeCloud.Cli.Commands;

/// <summary>Result of <c>moectl bench layer</c>.</summary>
/// <param name="Tokens">Tokens per call.</param>
/// <param name="Experts">Routed experts.</param>
/// <param name="TopK">Experts per token.</param>
/// <param name="DType">Weight dtype.</param>
/// <param name="ActiveExperts">Experts that received at least one token.</param>
/// <param name="LayerMs">Whole layer (gate, gather, expert FFNs, scatter) per call.</param>
/// <param name="ExpertSumMs">Sum of the expert FFN calls alone on the same per-expert batches.</param>
/// <param name="GateMs">The gate alone.</param>
/// <param name="Ratio">ExpertSumMs / LayerMs (1 = no overhead).</param>
/// <param name="LayerTokensPerSecond">Tokens per second through the whole layer.</param>
public sealed record LayerBenchResult(int Tokens, int Experts, int TopK, [property: JsonPropertyName("dtype")] string DType, int ActiveExperts, double LayerMs, double ExpertSumMs, double GateMs, double Ratio, double LayerTokensPerSecond);

/// <summary>
/// A synthetic MoE layer (written as a checkpoint in a temporary folder and loaded like a real one) on a batch of
/// embedded tokens: the whole layer against the sum of its expert FFN times on the same batches.
/// </summary>
internal static class LayerBenchmark
{
    public static LayerBenchResult Run(int experts, int topK, int hidden, int intermediate, int tokens, WeightDType dtype, int threads, int rounds, double roundSeconds, string workDir)
    {
        var spec = new ModelSpec
        {
            Family = ModelFamily.DeepseekV2,
            Layers = 1,
            MoeLayerIndices = [0],
            Experts = experts,
            TopK = topK,
            Hidden = hidden,
            ExpertIntermediate = intermediate,
            DType = dtype,
        };
        var dir = Path.Combine(workDir, $"moecloud-bench-layer-{Environment.ProcessId}");
        try
        {
            SyntheticModelWriter.Write(dir, spec, vocabulary: 4096);
            using var checkpoint = ModelCheckpoint.Open(dir);
            var kernel = new CpuExpertKernel(new ExpertKernelOptions { Threads = threads });
            var forward = new ReferenceForward(InMemoryModel.Load(checkpoint), kernel);
            var x = Embed(checkpoint, tokens, hidden);
            var routing = forward.Route(0, x, tokens);

            // The same per-expert batches the layer forms, gathered once, for the expert-only sum.
            var batches = Enumerable.Range(0, experts).Select(e => Enumerable.Range(0, routing.ExpertIds.Length).Where(d => routing.ExpertIds[d] == e).Select(d => d / topK).ToArray()).ToArray();
            var inputs = batches.Select(b => b.SelectMany(t => x.AsSpan(t * hidden, hidden).ToArray()).ToArray()).ToArray();
            var output = new float[tokens * hidden];
            var layer = forward.Model.Layers[0];
            var times = BenchTiming.MedianSeconds(
            [
                () => forward.ForwardLayer(0, x, tokens),
                () =>
                {
                    for (var e = 0; e < experts; e++)
                    {
                        if (batches[e].Length > 0)
                        {
                            kernel.Forward(layer.Experts[e], inputs[e], output, batches[e].Length);
                        }
                    }
                },
                () => forward.Route(0, x, tokens),
            ], rounds, roundSeconds);
            return new LayerBenchResult(tokens, experts, topK, dtype == WeightDType.BF16 ? "bf16" : "fp32", batches.Count(b => b.Length > 0),
                times[0] * 1e3, times[1] * 1e3, times[2] * 1e3, times[1] / times[0], tokens / times[0]);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static float[] Embed(ModelCheckpoint checkpoint, int tokens, int hidden)
    {
        var (file, info) = checkpoint.Locate(SyntheticModelWriter.EmbeddingTensor);
        var table = new float[info.ElementCount];
        file.ReadFloat32(info, table);
        var vocabulary = (int)info.Shape[0];
        var rng = new Random(11);
        var x = new float[tokens * hidden];
        for (var t = 0; t < tokens; t++)
        {
            table.AsSpan(rng.Next(vocabulary) * hidden, hidden).CopyTo(x.AsSpan(t * hidden, hidden));
        }

        return x;
    }
}
