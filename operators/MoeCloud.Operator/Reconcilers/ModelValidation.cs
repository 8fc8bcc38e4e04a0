using System.Text.Json;
using MoeCloud.Model.Spec;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>A reason a model cannot be served: a CamelCase reason and a message naming the offending field.</summary>
public sealed record Problem(string Reason, string Message);

/// <summary>
/// Checks a MoeModel: the cross-field rules (the same as the CRD's CEL rules, so that a server without CEL or an
/// object written before the rules existed is still caught, plus the Model library's gating rules), and its
/// architecture against the weights' config.json as the Model library (and so the runtime) reads it.
/// </summary>
public static class ModelValidation
{
    /// <summary>The CR's name of every gating the Model library runs: scoring, then the group selection after a dash.</summary>
    private static readonly (string Name, GateScoring Scoring, GroupSelection Selection)[] Gatings =
    [
        ("softmax", GateScoring.Softmax, GroupSelection.None),
        ("sigmoid", GateScoring.Sigmoid, GroupSelection.None),
        ("softmax-max-score", GateScoring.Softmax, GroupSelection.MaxScore),
        ("sigmoid-max-score", GateScoring.Sigmoid, GroupSelection.MaxScore),
        ("softmax-top-two-sum", GateScoring.Softmax, GroupSelection.TopTwoSum),
        ("sigmoid-top-two-sum", GateScoring.Sigmoid, GroupSelection.TopTwoSum),
        ("softmax-balanced", GateScoring.Softmax, GroupSelection.Balanced),
        ("sigmoid-balanced", GateScoring.Sigmoid, GroupSelection.Balanced),
    ];

    private static readonly string[] Dtypes = ["bf16", "fp16", "fp32"];

    /// <summary>Every value of <c>spec.architecture.gating</c>, as the CRD's enum lists them.</summary>
    public static IReadOnlyList<string> GatingKinds { get; } = Gatings.Select(g => g.Name).ToArray();

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

        if (Gating(a) is not { } gating)
        {
            problems.Add(new Problem("InvalidArchitecture", $"spec.architecture.gating \"{a.Gating}\" is not one of {string.Join(", ", GatingKinds)}"));
        }
        else if (a.Experts >= 1 && a.TopK >= 1)
        {
            problems.AddRange(gating.Problems(a.Experts, a.TopK).Select(p => new Problem("InvalidArchitecture",
                $"spec.architecture.gating {a.Gating} with expertGroups {a.ExpertGroups} and topKGroups {a.TopKGroups}: {p}")));
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
    /// The Model library's gating for the CR's <c>gating</c>, <c>expertGroups</c> and <c>topKGroups</c>; null when the
    /// gating is not one of <see cref="GatingKinds"/>. Only the routing choice is declared in the CR: normalisation,
    /// scaling and the selection bias come from config.json.
    /// </summary>
    public static GatingSpec? Gating(MoeArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        foreach (var (name, scoring, selection) in Gatings)
        {
            if (string.Equals(name, architecture.Gating, StringComparison.Ordinal))
            {
                return new GatingSpec { Scoring = scoring, GroupSelection = selection, Groups = architecture.ExpertGroups, TopKGroups = architecture.TopKGroups };
            }
        }

        return null;
    }

    /// <summary>
    /// Bytes of one routed expert in <c>spec.dtype</c> (bf16 and fp16: 2 bytes a parameter, fp32: 4), by the Model
    /// library's count of a SwiGLU expert's parameters (3 × hiddenSize × moeIntermediateSize).
    /// </summary>
    public static long BytesPerExpert(MoeModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!Dtypes.Contains(spec.Dtype) || !WeightDTypes.TryParse(spec.Dtype, out var dtype))
        {
            throw new ArgumentException($"spec.dtype \"{spec.Dtype}\" is not one of {string.Join(", ", Dtypes)}", nameof(spec));
        }

        return ModelSpec.ExpertBytes(spec.Architecture.HiddenSize, spec.Architecture.MoeIntermediateSize, dtype);
    }

    /// <summary>
    /// Compares the architecture with <c>config.json</c> in <paramref name="directory"/>, read by the Model library
    /// (Mixtral, Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3 and OLMoE, with their dense-layer keys and gating). Returns
    /// null when there is no config.json to read there; a config the library cannot read is one Problem
    /// (<c>ConfigUnreadable</c>, <c>ConfigIncomplete</c> or <c>ConfigInvalid</c>) naming the file and the key.
    /// </summary>
    public static List<Problem>? CheckConfig(MoeArchitecture architecture, string directory)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var path = Path.Combine(directory, "config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        ModelSpec config;
        try
        {
            config = ModelSpec.FromHuggingFaceConfig(path);
        }
        catch (ModelConfigException e) when (e.MissingKey is not null)
        {
            return [new Problem("ConfigIncomplete", $"{e.Message}, so spec.architecture cannot be checked against it")];
        }
        catch (ModelConfigException e) when (e.InnerException is JsonException)
        {
            return [new Problem("ConfigUnreadable", e.Message)];
        }
        catch (ModelConfigException e)
        {
            return [new Problem("ConfigInvalid", e.Message)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [new Problem("ConfigUnreadable", $"{path} cannot be read: {e.Message}")];
        }

        var problems = new List<Problem>();
        var family = config.Family;
        void Compare(string field, int declared, int actual)
        {
            if (declared != actual)
            {
                problems.Add(new Problem("ConfigMismatch", $"spec.architecture.{field} is {declared} but {path} ({family.ModelType()}) says {actual} ({Keys(family, field)})"));
            }
        }

        Compare("layers", architecture.Layers, config.MoeLayers);
        Compare("experts", architecture.Experts, config.Experts);
        Compare("topK", architecture.TopK, config.TopK);
        Compare("hiddenSize", architecture.HiddenSize, config.Hidden);
        Compare("moeIntermediateSize", architecture.MoeIntermediateSize, config.ExpertIntermediate);
        Compare("sharedExperts", architecture.SharedExperts, config.SharedExperts);

        var gating = config.Gating;
        var kind = Gatings.First(g => g.Scoring == gating.Scoring && g.Selection == gating.GroupSelection).Name;
        if (!string.Equals(architecture.Gating, kind, StringComparison.Ordinal))
        {
            problems.Add(new Problem("ConfigMismatch", $"spec.architecture.gating is {architecture.Gating} but {path} ({family.ModelType()}) says {kind} ({Keys(family, "gating")})"));
        }

        Compare("expertGroups", architecture.ExpertGroups, gating.Groups);
        if (gating.GroupSelection is GroupSelection.MaxScore or GroupSelection.TopTwoSum)
        {
            Compare("topKGroups", architecture.TopKGroups, gating.TopKGroups);
        }

        return problems;
    }

    /// <summary>The config.json keys of <paramref name="family"/> that a field of the architecture comes from, for messages.</summary>
    private static string Keys(ModelFamily family, string field)
    {
        var deepSeek = family is ModelFamily.DeepseekV2 or ModelFamily.DeepseekV3;
        var qwen = family is ModelFamily.Qwen2Moe or ModelFamily.Qwen3Moe;
        return field switch
        {
            "layers" when deepSeek => "MoE layers of num_hidden_layers after first_k_dense_replace, every moe_layer_freq",
            "layers" when qwen => "MoE layers of num_hidden_layers: every decoder_sparse_step, less mlp_only_layers",
            "layers" => "num_hidden_layers, all MoE",
            "experts" when deepSeek => "n_routed_experts",
            "experts" when family == ModelFamily.Mixtral => "num_local_experts",
            "experts" => "num_experts",
            "topK" => "num_experts_per_tok",
            "hiddenSize" => "hidden_size",
            "moeIntermediateSize" when deepSeek || qwen => "moe_intermediate_size",
            "moeIntermediateSize" => "intermediate_size",
            "sharedExperts" when deepSeek => "n_shared_experts",
            "sharedExperts" when family == ModelFamily.Qwen2Moe => "one fused shared expert when shared_expert_intermediate_size > 0",
            "sharedExperts" => $"{family.ModelType()} has no shared experts",
            "gating" when deepSeek => "scoring_func, topk_method",
            "gating" => $"{family.ModelType()} always routes by softmax top-k",
            "expertGroups" => "n_group",
            _ => "topk_group",
        };
    }
}
