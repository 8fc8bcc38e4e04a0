using System.Globalization;
using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>Discovery documents (/api, /apis, /apis/g/v, /version) and Table output for kubectl.</summary>
internal static class Discovery
{
    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "33",
        ["gitVersion"] = "v1.33.0-moecloud-inproc",
        ["gitCommit"] = "inproc",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2026-01-01T00:00:00Z",
        ["goVersion"] = "go1.24",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject CoreVersions() => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(),
    };

    public static JsonObject Groups(ResourceCatalog catalog) => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(catalog.All.Where(r => r.Group.Length > 0).Select(r => r.Group).Distinct()
            .Select(g => (JsonNode)Group(catalog, g)).ToArray()),
    };

    public static JsonObject Group(ResourceCatalog catalog, string group)
    {
        var versions = catalog.All.Where(r => r.Group == group).Select(r => r.Version).Distinct()
            .Select(v => (JsonNode)new JsonObject { ["groupVersion"] = $"{group}/{v}", ["version"] = v }).ToArray();
        return new JsonObject
        {
            ["kind"] = "APIGroup",
            ["apiVersion"] = "v1",
            ["name"] = group,
            ["versions"] = new JsonArray(versions),
            ["preferredVersion"] = versions[0]!.DeepClone(),
        };
    }

    public static JsonObject Resources(ResourceCatalog catalog, string group, string version)
    {
        var resources = new JsonArray();
        foreach (var r in catalog.All.Where(r => r.Group == group && r.Version == version))
        {
            resources.Add(new JsonObject
            {
                ["name"] = r.Plural,
                ["singularName"] = r.Singular,
                ["namespaced"] = r.Namespaced,
                ["kind"] = r.Kind,
                ["verbs"] = new JsonArray("create", "delete", "get", "list", "patch", "update", "watch"),
                ["shortNames"] = new JsonArray(r.ShortNames.Select(s => (JsonNode)s).ToArray()),
                ["categories"] = new JsonArray(r.Categories.Select(s => (JsonNode)s).ToArray()),
            });
            if (r.HasStatus)
            {
                resources.Add(Subresource(r, "status", r.Kind, null));
            }

            if (r.Scale is not null)
            {
                resources.Add(Subresource(r, "scale", "Scale", "autoscaling"));
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = group.Length == 0 ? version : $"{group}/{version}",
            ["resources"] = resources,
        };
    }

    private static JsonObject Subresource(ApiResource r, string name, string kind, string? group)
    {
        var sub = new JsonObject
        {
            ["name"] = $"{r.Plural}/{name}",
            ["singularName"] = "",
            ["namespaced"] = r.Namespaced,
            ["kind"] = kind,
            ["verbs"] = new JsonArray("get", "patch", "update"),
        };
        if (group is not null)
        {
            sub["group"] = group;
            sub["version"] = "v1";
        }

        return sub;
    }

    /// <summary>A meta.k8s.io/v1 Table of the objects: Name, the CRD's printer columns, and Age.</summary>
    public static JsonObject Table(ApiResource resource, IEnumerable<JsonObject> items, long resourceVersion, DateTimeOffset now)
    {
        var columns = new List<PrinterColumn> { new("Name", "string", ".metadata.name", "Name of the object.") };
        columns.AddRange(resource.PrinterColumns.Count > 0
            ? resource.PrinterColumns
            : [new PrinterColumn("Age", "date", ".metadata.creationTimestamp", "Time since creation.")]);
        var rows = new JsonArray();
        foreach (var item in items)
        {
            var cells = new JsonArray(columns.Select(c => Cell(c, item, now)).ToArray());
            rows.Add(new JsonObject
            {
                ["cells"] = cells,
                ["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = item["metadata"]?.DeepClone(),
                },
            });
        }

        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture) },
            ["columnDefinitions"] = new JsonArray(columns.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["type"] = c.Type == "date" ? "string" : c.Type,
                ["format"] = c.Name == "Name" ? "name" : "",
                ["description"] = c.Description,
                ["priority"] = 0,
            }).ToArray()),
            ["rows"] = rows,
        };
    }

    private static JsonNode? Cell(PrinterColumn column, JsonObject item, DateTimeOffset now)
    {
        var value = JsonPaths.Get(item, column.JsonPath);
        if (column.Type == "date" && value is JsonValue v && DateTimeOffset.TryParse((string?)v, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
        {
            var age = now - at;
            return age.TotalMinutes < 2 ? $"{Math.Max(0, (int)age.TotalSeconds)}s"
                : age.TotalHours < 2 ? $"{(int)age.TotalMinutes}m"
                : $"{(int)age.TotalHours}h";
        }

        return value?.DeepClone();
    }
}

/// <summary>Simple dotted paths (".spec.replicas") as CRDs use them for printer columns and the scale subresource.</summary>
public static class JsonPaths
{
    public static JsonNode? Get(JsonNode? node, string path)
    {
        foreach (var part in Parts(path))
        {
            node = node is JsonObject o ? o[part] : null;
        }

        return node;
    }

    public static void Set(JsonObject root, string path, JsonNode? value)
    {
        var parts = Parts(path);
        var node = root;
        foreach (var part in parts[..^1])
        {
            node = node[part] as JsonObject ?? (JsonObject)(node[part] = new JsonObject());
        }

        node[parts[^1]] = value;
    }

    private static string[] Parts(string path) => path.TrimStart('.').Split('.', StringSplitOptions.RemoveEmptyEntries);
}
