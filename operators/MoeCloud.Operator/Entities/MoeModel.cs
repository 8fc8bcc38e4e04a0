using System.Text.Json.Serialization;
using k8s.Models;

namespace MoeCloud.Operator.Entities;

/// <summary>A Mixture-of-Experts model: architecture, weight source and numeric type.</summary>
public sealed class MoeModel : CustomResource<MoeModelSpec, MoeModelStatus>
{
    public MoeModel() => Kind = "MoeModel";
}

public sealed class MoeModelSpec
{
    [JsonPropertyName("architecture")]
    public MoeArchitecture Architecture { get; set; } = new();

    [JsonPropertyName("weights")]
    public WeightSource Weights { get; set; } = new();

    [JsonPropertyName("dtype")]
    public string Dtype { get; set; } = "bf16";
}

public sealed class MoeArchitecture
{
    [JsonPropertyName("layers")]
    public int Layers { get; set; }

    [JsonPropertyName("experts")]
    public int Experts { get; set; }

    [JsonPropertyName("topK")]
    public int TopK { get; set; }

    [JsonPropertyName("hiddenSize")]
    public int HiddenSize { get; set; }

    [JsonPropertyName("moeIntermediateSize")]
    public int MoeIntermediateSize { get; set; }

    [JsonPropertyName("sharedExperts")]
    public int SharedExperts { get; set; }

    /// <summary>
    /// Scoring and group selection of the router, as <c>softmax</c> or <c>sigmoid</c> optionally followed by
    /// <c>-max-score</c>, <c>-top-two-sum</c> or <c>-balanced</c> (see <see cref="Reconcilers.ModelValidation.GatingKinds"/>).
    /// </summary>
    [JsonPropertyName("gating")]
    public string Gating { get; set; } = "softmax";

    /// <summary>Expert groups of a group-limited gating (Hugging Face <c>n_group</c>); 1 for plain top-k.</summary>
    [JsonPropertyName("expertGroups")]
    public int ExpertGroups { get; set; } = 1;

    /// <summary>Groups kept before the top-k (Hugging Face <c>topk_group</c>); 1 for plain top-k, ignored by balanced groups.</summary>
    [JsonPropertyName("topKGroups")]
    public int TopKGroups { get; set; } = 1;
}

public sealed class WeightSource
{
    [JsonPropertyName("path")]
    public string Path { get; set; } = "";

    [JsonPropertyName("claimName")]
    public string? ClaimName { get; set; }
}

public sealed class MoeModelStatus
{
    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("phase")]
    public string? Phase { get; set; }

    [JsonPropertyName("configChecked")]
    public bool? ConfigChecked { get; set; }

    [JsonPropertyName("conditions")]
    public IList<V1Condition> Conditions { get; set; } = [];
}
