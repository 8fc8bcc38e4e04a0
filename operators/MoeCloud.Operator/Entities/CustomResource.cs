using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace MoeCloud.Operator.Entities;

/// <summary>
/// A namespaced custom resource of group <c>moecloud.io</c>: apiVersion, kind, metadata, spec and status.
/// The property names are those of the CRD YAML in <c>charts/moecloud/files/crds</c>; a test walks both and fails
/// when they drift.
/// </summary>
public abstract class CustomResource<TSpec, TStatus> : IKubernetesObject<V1ObjectMeta>
    where TSpec : new()
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = MoeCloudApi.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    [JsonPropertyName("spec")]
    public TSpec Spec { get; set; } = new();

    [JsonPropertyName("status")]
    public TStatus? Status { get; set; }
}

/// <summary>A list response of a custom resource.</summary>
public sealed class CustomResourceList<T>
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = MoeCloudApi.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = "";

    [JsonPropertyName("metadata")]
    public V1ListMeta Metadata { get; set; } = new();

    [JsonPropertyName("items")]
    public IList<T> Items { get; set; } = [];
}

/// <summary>Names of the MoeCloud API group and its resources.</summary>
public static class MoeCloudApi
{
    public const string Group = "moecloud.io";
    public const string Version = "v1alpha1";
    public const string ApiVersion = Group + "/" + Version;

    public static readonly ResourceKind MoeModels = new(Group, Version, "moemodels", "MoeModel");
    public static readonly ResourceKind MoeDeployments = new(Group, Version, "moedeployments", "MoeDeployment");
    public static readonly ResourceKind ExpertPlacements = new(Group, Version, "expertplacements", "ExpertPlacement");
    public static readonly ResourceKind StatefulSets = new("apps", "v1", "statefulsets", "StatefulSet");

    /// <summary>Labels the operator puts on everything it creates.</summary>
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "moecloud-operator";
    public const string DeploymentLabel = "moecloud.io/deployment";
    public const string ComponentLabel = "app.kubernetes.io/component";
}

/// <summary>A resource served under /apis/{group}/{version}/namespaces/{ns}/{plural}.</summary>
public sealed record ResourceKind(string Group, string Version, string Plural, string Kind)
{
    public string ApiVersion => Group + "/" + Version;
}
