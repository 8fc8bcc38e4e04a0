using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>The resource types the server knows: the built-in kinds an operator uses plus every stored CRD.</summary>
public sealed class ResourceCatalog
{
    private static readonly ScalePaths ReplicaScale = new(".spec.replicas", ".status.replicas", null);
    private readonly ConcurrentDictionary<(string Group, string Version, string Plural), ApiResource> _resources = new();

    public ResourceCatalog()
    {
        Add(new ApiResource("", "v1", "Namespace", "namespaces", Namespaced: false, HasStatus: true));
        Add(new ApiResource("", "v1", "ConfigMap", "configmaps", Namespaced: true) { ShortNames = ["cm"] });
        Add(new ApiResource("", "v1", "Secret", "secrets", Namespaced: true));
        Add(new ApiResource("", "v1", "Service", "services", Namespaced: true, HasStatus: true) { ShortNames = ["svc"] });
        Add(new ApiResource("", "v1", "ServiceAccount", "serviceaccounts", Namespaced: true) { ShortNames = ["sa"] });
        Add(new ApiResource("", "v1", "Pod", "pods", Namespaced: true, HasStatus: true) { ShortNames = ["po"] });
        Add(new ApiResource("", "v1", "Event", "events", Namespaced: true) { ShortNames = ["ev"] });
        Add(new ApiResource("apps", "v1", "StatefulSet", "statefulsets", Namespaced: true, HasStatus: true, ReplicaScale) { ShortNames = ["sts"] });
        Add(new ApiResource("apps", "v1", "Deployment", "deployments", Namespaced: true, HasStatus: true, ReplicaScale) { ShortNames = ["deploy"] });
        Add(new ApiResource("coordination.k8s.io", "v1", "Lease", "leases", Namespaced: true));
        Add(new ApiResource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", Namespaced: true, HasStatus: true) { ShortNames = ["pdb"] });
        Add(new ApiResource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", Namespaced: true, HasStatus: true) { ShortNames = ["hpa"] });
        Add(new ApiResource("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", Namespaced: false, HasStatus: true) { ShortNames = ["crd", "crds"] });
    }

    public IEnumerable<ApiResource> All => _resources.Values.OrderBy(r => r.Group, StringComparer.Ordinal).ThenBy(r => r.Plural, StringComparer.Ordinal);

    public ApiResource? Find(string group, string version, string plural) =>
        _resources.TryGetValue((group, version, plural), out var resource) ? resource : null;

    public void Add(ApiResource resource) => _resources[(resource.Group, resource.Version, resource.Plural)] = resource;

    /// <summary>Serves every served version of a CustomResourceDefinition object.</summary>
    public void Register(JsonObject crd)
    {
        var spec = crd["spec"]!.AsObject();
        var group = (string)spec["group"]!;
        var names = spec["names"]!.AsObject();
        var namespaced = (string?)spec["scope"] != "Cluster";
        foreach (var version in spec["versions"]!.AsArray().Select(v => v!.AsObject()))
        {
            if (version["served"] is JsonValue served && !served.GetValue<bool>())
            {
                continue;
            }

            var subresources = version["subresources"] as JsonObject;
            var scale = subresources?["scale"] is JsonObject s
                ? new ScalePaths((string)s["specReplicasPath"]!, (string)s["statusReplicasPath"]!, (string?)s["labelSelectorPath"])
                : null;
            Add(new ApiResource(group, (string)version["name"]!, (string)names["kind"]!, (string)names["plural"]!, namespaced,
                HasStatus: subresources?["status"] is not null, scale)
            {
                Singular = (string?)names["singular"] ?? ((string)names["kind"]!).ToLowerInvariant(),
                ShortNames = StringList(names["shortNames"]),
                Categories = StringList(names["categories"]),
                Schema = version["schema"]?["openAPIV3Schema"]?.DeepClone().AsObject(),
                PrinterColumns = (version["additionalPrinterColumns"] as JsonArray ?? [])
                    .Select(c => new PrinterColumn((string)c!["name"]!, (string)c["type"]!, (string)c["jsonPath"]!, (string?)c["description"] ?? ""))
                    .ToList(),
            });
        }
    }

    private static List<string> StringList(JsonNode? node) =>
        node is JsonArray array ? array.Select(n => (string)n!).ToList() : [];
}
