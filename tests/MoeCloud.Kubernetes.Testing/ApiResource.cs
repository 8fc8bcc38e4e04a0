using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>A resource type the in-process API server serves: built in, or from a CustomResourceDefinition.</summary>
public sealed record ApiResource(
    string Group,
    string Version,
    string Kind,
    string Plural,
    bool Namespaced,
    bool HasStatus = false,
    ScalePaths? Scale = null)
{
    public string Singular { get; init; } = Kind.ToLowerInvariant();

    public IReadOnlyList<string> ShortNames { get; init; } = [];

    public IReadOnlyList<string> Categories { get; init; } = [];

    /// <summary>The CRD's openAPIV3Schema (defaults, pruning, validation); null for built-in kinds.</summary>
    public JsonObject? Schema { get; init; }

    /// <summary>The CRD's additionalPrinterColumns, served as a Table to <c>kubectl get</c>.</summary>
    public IReadOnlyList<PrinterColumn> PrinterColumns { get; init; } = [];

    /// <summary>Whether metadata.generation counts spec changes (every kind with a status subresource).</summary>
    public bool TracksGeneration => HasStatus;

    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;

    public string ListKind => Kind + "List";

    public string GroupVersion => ApiVersion;
}

/// <summary>The scale subresource's paths, as in a CRD's <c>subresources.scale</c> (".spec.replicas" style).</summary>
public sealed record ScalePaths(string SpecReplicasPath, string StatusReplicasPath, string? LabelSelectorPath);

/// <summary>One of a CRD's additionalPrinterColumns.</summary>
public sealed record PrinterColumn(string Name, string Type, string JsonPath, string Description);
