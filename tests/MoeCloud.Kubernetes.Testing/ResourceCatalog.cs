using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using MoeCloud.Kubernetes.Testing.Cel;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>The resource types the server knows: the built-in kinds an operator uses plus every stored CRD.</summary>
public sealed class ResourceCatalog
{
    private static readonly ScalePaths ReplicaScale = new(".spec.replicas", ".status.replicas", null);
    private readonly ConcurrentDictionary<(string Group, string Version, string Plural), ApiResource> _resources = new();
    private readonly ConcurrentDictionary<(string Group, string Version, string Plural), SchemaRules> _rules = new();

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

    /// <summary>The compiled x-kubernetes-validations rules of a custom resource version; null when it has none.</summary>
    public SchemaRules? Rules(ApiResource resource) =>
        _rules.TryGetValue((resource.Group, resource.Version, resource.Plural), out var rules) ? rules : null;

    /// <summary>Serves every served version of a CustomResourceDefinition object.</summary>
    /// <exception cref="InvalidRulesException">A version's x-kubernetes-validations rules do not compile; nothing is registered.</exception>
    public void Register(JsonObject crd)
    {
        var spec = crd["spec"]!.AsObject();
        var group = (string)spec["group"]!;
        var names = spec["names"]!.AsObject();
        var namespaced = (string?)spec["scope"] != "Cluster";
        var compiled = CompileRules(spec);
        foreach (var version in spec["versions"]!.AsArray().Select(v => v!.AsObject()))
        {
            if (version["served"] is JsonValue served && !served.GetValue<bool>())
            {
                continue;
            }

            var key = (group, (string)version["name"]!, (string)names["plural"]!);
            if (compiled.TryGetValue(key.Item2, out var rules))
            {
                _rules[key] = rules;
            }
            else
            {
                _rules.TryRemove(key, out _);
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

    /// <summary>Compiles the rules of every version first, so that a CRD with a broken rule registers nothing.</summary>
    private static Dictionary<string, SchemaRules> CompileRules(JsonObject spec)
    {
        var compiled = new Dictionary<string, SchemaRules>(StringComparer.Ordinal);
        var errors = new List<string>();
        var versions = spec["versions"]!.AsArray();
        for (var i = 0; i < versions.Count; i++)
        {
            if (versions[i]?["schema"]?["openAPIV3Schema"] is not JsonObject schema)
            {
                continue;
            }

            try
            {
                var rules = SchemaRules.Compile(schema, $"spec.versions[{i}].schema.openAPIV3Schema");
                if (!rules.IsEmpty)
                {
                    compiled[(string)versions[i]!["name"]!] = rules;
                }
            }
            catch (InvalidRulesException e)
            {
                errors.AddRange(e.Errors);
            }
        }

        return errors.Count > 0 ? throw new InvalidRulesException(errors) : compiled;
    }

    private static List<string> StringList(JsonNode? node) =>
        node is JsonArray array ? array.Select(n => (string)n!).ToList() : [];
}
