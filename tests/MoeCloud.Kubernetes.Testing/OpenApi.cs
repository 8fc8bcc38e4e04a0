using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>
/// The OpenAPI v3 documents kubectl reads for <c>kubectl explain</c> and client-side validation: one per group-version
/// that has CustomResourceDefinition schemas. Built-in kinds carry no schema here.
/// </summary>
internal static class OpenApi
{
    public static JsonObject Index(ResourceCatalog catalog) => new()
    {
        ["paths"] = new JsonObject(catalog.All.Where(r => r.Schema is not null).Select(r => r.GroupVersion).Distinct()
            .Select(gv => KeyValuePair.Create<string, JsonNode?>($"apis/{gv}", new JsonObject
            {
                ["serverRelativeURL"] = $"/openapi/v3/apis/{gv}?hash=inproc",
            }))),
    };

    public static JsonObject? Document(ResourceCatalog catalog, string group, string version)
    {
        var resources = catalog.All.Where(r => r.Group == group && r.Version == version && r.Schema is not null).ToList();
        if (resources.Count == 0)
        {
            return null;
        }

        var schemas = new JsonObject();
        var paths = new JsonObject();
        foreach (var r in resources)
        {
            var schema = r.Schema!.DeepClone().AsObject();
            schema["x-kubernetes-group-version-kind"] = new JsonArray(Gvk(r));
            schemas[SchemaName(r)] = schema;
            var scope = r.Namespaced ? "namespaces/{namespace}/" : "";
            var item = new JsonObject { ["get"] = Operation(r, withResponse: true) };
            foreach (var verb in new[] { "put", "patch" })
            {
                item[verb] = Operation(r, withResponse: false);
            }

            paths[$"/apis/{group}/{version}/{scope}{r.Plural}/{{name}}"] = item;
            paths[$"/apis/{group}/{version}/{scope}{r.Plural}"] = new JsonObject { ["post"] = Operation(r, withResponse: false) };
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.33.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = schemas },
        };
    }

    /// <summary>An operation with the fieldValidation parameter, which tells kubectl to validate on the server.</summary>
    private static JsonObject Operation(ApiResource r, bool withResponse)
    {
        var operation = new JsonObject
        {
            ["x-kubernetes-group-version-kind"] = Gvk(r),
            ["parameters"] = new JsonArray(new JsonObject
            {
                ["name"] = "fieldValidation",
                ["in"] = "query",
                ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
            }),
        };
        if (withResponse)
        {
            operation["responses"] = new JsonObject
            {
                ["200"] = new JsonObject
                {
                    ["description"] = "OK",
                    ["content"] = new JsonObject
                    {
                        ["application/json"] = new JsonObject
                        {
                            ["schema"] = new JsonObject { ["$ref"] = $"#/components/schemas/{SchemaName(r)}" },
                        },
                    },
                },
            };
        }

        return operation;
    }

    private static JsonObject Gvk(ApiResource r) => new() { ["group"] = r.Group, ["kind"] = r.Kind, ["version"] = r.Version };

    private static string SchemaName(ApiResource r) =>
        string.Join('.', r.Group.Split('.').Reverse()) + "." + r.Version + "." + r.Kind;
}
