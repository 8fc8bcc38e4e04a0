using System.Text.Json;
using System.Text.Json.Nodes;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Synthetic;

/// <summary>What <see cref="SyntheticModelWriter.Write"/> produced.</summary>
/// <param name="Directory">The checkpoint directory.</param>
/// <param name="Spec">The model spec (also in <c>config.json</c>).</param>
/// <param name="Files">Safetensors files written.</param>
/// <param name="Tensors">Tensors written.</param>
/// <param name="LogicalBytes">Sum of the files' lengths (holes included).</param>
public sealed record SyntheticModelSummary(string Directory, ModelSpec Spec, IReadOnlyList<string> Files, int Tensors, long LogicalBytes);

/// <summary>
/// Writes a synthetic checkpoint: <c>config.json</c> in the family's keys, and safetensors shards in the family's
/// tensor naming (<c>model.safetensors</c>, or <c>model-0000i-of-0000n.safetensors</c> with
/// <c>model.safetensors.index.json</c>). It holds what MoeCloud reads: token embeddings
/// (<c>model.embed_tokens.weight</c>, to turn token ids into hidden states), and per MoE layer the RMSNorm weight, the
/// router (see <see cref="RoutingStructure"/>), the routed and shared experts. The same seed gives the same bytes.
/// </summary>
public static class SyntheticModelWriter
{
    /// <summary>The embedding tensor's name.</summary>
    public const string EmbeddingTensor = "model.embed_tokens.weight";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the checkpoint into <paramref name="directory"/> (created if needed).</summary>
    public static SyntheticModelSummary Write(string directory, ModelSpec spec, int vocabulary, SyntheticModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        options = (options ?? new SyntheticModelOptions()).Validate();
        if (vocabulary < 1)
        {
            throw new ArgumentException($"Vocabulary must be positive, got {vocabulary}.", nameof(vocabulary));
        }

        var config = HuggingFaceConfigWriter.ToJson(spec);
        var tensors = Plan(spec, vocabulary, options);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ModelCheckpoint.ConfigFile), JsonNode.Parse(config)!.AsObject().Also(o => o["vocab_size"] = vocabulary).ToJsonString(Indented));

        // Shards: consecutive tensors up to MaxShardBytes each.
        var shards = new List<List<PlannedTensor>> { new() };
        long shardBytes = 0;
        foreach (var t in tensors)
        {
            if (shardBytes > 0 && shardBytes + t.Bytes > options.MaxShardBytes)
            {
                shards.Add([]);
                shardBytes = 0;
            }

            shards[^1].Add(t);
            shardBytes += t.Bytes;
        }

        var files = new List<string>();
        var weightMap = new JsonObject();
        long total = 0;
        for (var s = 0; s < shards.Count; s++)
        {
            var name = shards.Count == 1 ? "model.safetensors" : $"model-{s + 1:D5}-of-{shards.Count:D5}.safetensors";
            var writer = new SafetensorsWriter().Metadata("generator", "moecloud-synthetic").Metadata("seed", options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var t in shards[s])
            {
                writer.Add(t.Name, t.DType, t.Shape, t.Fill);
                weightMap[t.Name] = name;
            }

            var path = Path.Combine(directory, name);
            total += writer.Save(path);
            files.Add(path);
        }

        if (shards.Count > 1)
        {
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
            File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString(Indented));
        }

        return new SyntheticModelSummary(directory, spec, files, tensors.Count, total);
    }

    private static List<PlannedTensor> Plan(ModelSpec spec, int vocabulary, SyntheticModelOptions options)
    {
        var structure = new RoutingStructure(spec, options);
        var f = spec.Family;
        int h = spec.Hidden, seed = options.Seed;
        var list = new List<PlannedTensor>
        {
            new(EmbeddingTensor, spec.DType, [vocabulary, h], v =>
            {
                for (var t = 0; t < vocabulary; t++)
                {
                    structure.Embedding(t, v.Slice(t * h, h));
                }
            }),
        };
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            var layer = spec.ModelLayerOf(l);
            var moeLayer = l;
            list.Add(new(TensorNaming.Norm(layer), spec.DType, [h], v => v.Fill(1f)));
            list.Add(new(TensorNaming.Router(f, layer), spec.DType, [spec.Experts, h], v => structure.Router(moeLayer, v)));
            if (spec.Gating.SelectionBias)
            {
                var name = TensorNaming.RouterBias(f, layer);
                list.Add(new(name, WeightDType.F32, [spec.Experts], v => SplitMix.For(seed, name).FillUniform(v, 0.02)));
            }

            if (spec.SharedExperts > 0)
            {
                AddMlp(list, spec, spec.SharedIntermediate, p => TensorNaming.Shared(f, layer, p), seed, options.OutputScale, dense: true);
                if (spec.SharedExpertGate)
                {
                    var name = TensorNaming.SharedGate(f, layer);
                    list.Add(new(name, spec.DType, [1, h], v => SplitMix.For(seed, name).FillUniform(v, 1.0 / Math.Sqrt(h))));
                }
            }

            for (var e = 0; e < spec.Experts; e++)
            {
                var expert = e;
                var dense = !options.SparseExperts || options.DenseExperts.Contains((l, e));
                AddMlp(list, spec, spec.ExpertIntermediate, p => TensorNaming.Expert(f, layer, expert, p), seed, options.OutputScale, dense);
            }
        }

        return list;
    }

    private static void AddMlp(List<PlannedTensor> list, ModelSpec spec, int inter, Func<ExpertProjection, string> name, int seed, double outputScale, bool dense)
    {
        int h = spec.Hidden;
        foreach (var p in new[] { ExpertProjection.Gate, ExpertProjection.Up, ExpertProjection.Down })
        {
            var tensor = name(p);
            long[] shape = p == ExpertProjection.Down ? [h, inter] : [inter, h];
            // gate/up: unit-variance pre-activations on a normalised input; down: outputs of RMS ≈ outputScale.
            var std = p == ExpertProjection.Down ? outputScale * 2 / Math.Sqrt(inter) : 1 / Math.Sqrt(h);
            list.Add(new(tensor, spec.DType, shape, dense ? v => SplitMix.For(seed, tensor).FillUniform(v, std) : null));
        }
    }

    private static T Also<T>(this T value, Action<T> action)
    {
        action(value);
        return value;
    }

    private sealed record PlannedTensor(string Name, WeightDType DType, long[] Shape, TensorFill? Fill)
    {
        public long Bytes => Shape.Aggregate(1L, (a, b) => a * b) * DType.SizeOf();
    }
}
