using System.Text.Json;
using System.Text.Json.Serialization;

namespace MoeCloud.Model.Traces;

/// <summary>
/// <c>manifest.json</c> of a trace directory (DESIGN.md §7). Keys MoeCloud does not know are kept in
/// <see cref="Extra"/> and written back unchanged.
/// </summary>
public sealed record TraceManifest
{
    /// <summary>Trace name.</summary>
    [JsonPropertyName("name")]
    public string Name { get; init; } = "";

    /// <summary>The model the routing came from (free text).</summary>
    [JsonPropertyName("model")]
    public string Model { get; init; } = "";

    /// <summary>MoE layers recorded.</summary>
    [JsonPropertyName("layers")]
    public int Layers { get; init; }

    /// <summary>Routed experts per layer.</summary>
    [JsonPropertyName("experts")]
    public int Experts { get; init; }

    /// <summary>Experts chosen per token and layer.</summary>
    [JsonPropertyName("topK")]
    public int TopK { get; init; }

    /// <summary>Tokens recorded.</summary>
    [JsonPropertyName("tokens")]
    public int Tokens { get; init; }

    /// <summary>Sequences recorded (optional; checked against <c>seq_ids.npy</c> when both exist).</summary>
    [JsonPropertyName("sequences")]
    public int? Sequences { get; init; }

    /// <summary>How slots are ordered, for example "descending gate weight (slot 0 = top-1)" (optional).</summary>
    [JsonPropertyName("slotOrder")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? SlotOrder { get; init; }

    /// <summary>Every other key of the file, kept as it was.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}
