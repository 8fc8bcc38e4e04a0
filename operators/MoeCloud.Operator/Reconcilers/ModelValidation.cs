using System.Text.Json;
using System.Text.Json.Nodes;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>A reason a model cannot be served: a CamelCase reason and a message naming the offending field.</summary>
public sealed record Problem(string Reason, string Message);

/// <summary>
/// Checks a MoeModel: the cross-field rules (the same as the CRD's CEL rules, so that a server without CEL or an
/// object written before the rules existed is still caught), and its architecture against the weights' config.json.
/// </summary>
public static class ModelValidation
{
    private static readonly string[] Gatings = ["softmax", "sigmoid"];
    private static readonly string[] Dtypes = ["bf16", "fp16", "fp32"];

    public static List<Problem> CheckSpec(MoeModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var a = spec.Architecture;
        var problems = new List<Problem>();
        foreach (var (field, value) in new[] { ("layers", a.Layers), ("experts", a.Experts), ("topK", a.TopK), ("hiddenSize", a.HiddenSize), ("moeIntermediateSize", a.MoeIntermediateSize) })
        {
            if (value < 1)
            {
                problems.Add(new Problem("InvalidArchitecture", $"spec.architecture.{field} must be at least 1 (was {value})"));
            }
        }

        if (a.TopK > a.Experts)
        {
            problems.Add(new Problem("InvalidArchitecture", $"spec.architecture.topK ({a.TopK}) exceeds spec.architecture.experts ({a.Experts})"));
        }

        if (a.SharedExperts < 0 || a.SharedExperts > a.Experts)
        {
            problems.Add(new Problem("InvalidArchitecture", $"spec.architecture.sharedExperts must be in 0..experts (was {a.SharedExperts})"));
        }

        if (!Gatings.Contains(a.Gating))
        {
            problems.Add(new Problem("InvalidArchitecture", $"spec.architecture.gating \"{a.Gating}\" is not one of {string.Join(", ", Gatings)}"));
        }

        if (!Dtypes.Contains(spec.Dtype))
        {
            problems.Add(new Problem("InvalidDtype", $"spec.dtype \"{spec.Dtype}\" is not one of {string.Join(", ", Dtypes)}"));
        }

        if (string.IsNullOrWhiteSpace(spec.Weights.Path))
        {
            problems.Add(new Problem("MissingWeights", "spec.weights.path must name the weights directory"));
        }

        return problems;
    }

    /// <summary>
    /// Compares the architecture with <c>config.json</c> in <paramref name="directory"/> (Hugging Face names of
    /// Mixtral, Qwen-MoE, DeepSeek and OLMoE). Returns null when there is no config.json to read there.
    /// </summary>
    public static List<Problem>? CheckConfig(MoeArchitecture architecture, string directory)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var path = Path.Combine(directory, "config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new JsonException("the top level is not a JSON object");
        }
        catch (JsonException e)
        {
            return [new Problem("ConfigUnreadable", $"{path} is not valid JSON: {e.Message}")];
        }

        var problems = new List<Problem>();
        var denseLayers = Int(config, "first_k_dense_replace") ?? 0;
        Compare(problems, path, "layers", architecture.Layers, Int(config, "num_hidden_layers") - denseLayers, "num_hidden_layers - first_k_dense_replace");
        Compare(problems, path, "experts", architecture.Experts, Int(config, "n_routed_experts") ?? Int(config, "num_local_experts") ?? Int(config, "num_experts"), "n_routed_experts / num_local_experts / num_experts");
        Compare(problems, path, "topK", architecture.TopK, Int(config, "num_experts_per_tok"), "num_experts_per_tok");
        Compare(problems, path, "hiddenSize", architecture.HiddenSize, Int(config, "hidden_size"), "hidden_size");
        Compare(problems, path, "moeIntermediateSize", architecture.MoeIntermediateSize, Int(config, "moe_intermediate_size") ?? Int(config, "intermediate_size"), "moe_intermediate_size / intermediate_size");
        Compare(problems, path, "sharedExperts", architecture.SharedExperts, Int(config, "n_shared_experts") ?? 0, "n_shared_experts");
        return problems;
    }

    private static void Compare(List<Problem> problems, string path, string field, int declared, int? actual, string keys)
    {
        if (actual is null)
        {
            problems.Add(new Problem("ConfigIncomplete", $"{path} has no {keys} to check spec.architecture.{field} against"));
        }
        else if (actual != declared)
        {
            problems.Add(new Problem("ConfigMismatch", $"spec.architecture.{field} is {declared} but {path} says {actual} ({keys})"));
        }
    }

    private static int? Int(JsonObject config, string key) =>
        config[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i
        : config[key] is JsonValue d && d.TryGetValue<double>(out var x) && double.IsInteger(x) ? (int)x
        : null;
}
