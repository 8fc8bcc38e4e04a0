using System.Globalization;
using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

internal sealed partial class ResourceHandler
{
    /// <summary>Creates an object from a manifest (any known kind), replacing one of the same name.</summary>
    public void CreateOrReplace(JsonObject manifest)
    {
        var (group, version) = SplitApiVersion((string)manifest["apiVersion"]!);
        var kind = (string)manifest["kind"]!;
        var resource = catalog.All.FirstOrDefault(r => r.Group == group && r.Version == version && r.Kind == kind)
            ?? throw new InvalidOperationException($"the in-process API server does not serve {kind} ({group}/{version})");
        var ns = resource.Namespaced ? (string?)manifest["metadata"]?["namespace"] ?? "default" : null;
        var key = new StoreKey(group, resource.Plural, ns ?? "", (string)manifest["metadata"]!["name"]!);
        lock (store.Gate)
        {
            if (store.Get(key) is { } current)
            {
                manifest["metadata"]!["resourceVersion"] = current["metadata"]!["resourceVersion"]!.DeepClone();
                Update(resource, key, null, manifest);
            }
            else
            {
                Create(resource, ns, manifest);
            }
        }
    }

    public void MarkReady(StoreKey key)
    {
        lock (store.Gate)
        {
            var current = store.Get(key) ?? throw new InvalidOperationException($"{key} does not exist");
            var replicas = current["spec"]?["replicas"]?.DeepClone() ?? JsonValue.Create(1);
            current["status"] = new JsonObject
            {
                ["observedGeneration"] = current["metadata"]!["generation"]?.DeepClone(),
                ["replicas"] = replicas.DeepClone(),
                ["readyReplicas"] = replicas.DeepClone(),
                ["availableReplicas"] = replicas.DeepClone(),
                ["updatedReplicas"] = replicas,
            };
            store.Put(key, current);
        }
    }

    private JsonObject Create(ApiResource resource, string? ns, JsonObject obj, bool strict = false)
    {
        var metadata = obj["metadata"] as JsonObject ?? throw new ApiException(422, "Invalid", "metadata: Required value");
        var name = (string?)metadata["name"];
        if (string.IsNullOrEmpty(name))
        {
            var prefix = (string?)metadata["generateName"] ?? throw new ApiException(422, "Invalid", "metadata.name: Required value: name or generateName is required");
            name = prefix + Guid.NewGuid().ToString("N")[..5];
        }

        if (ns is not null && metadata["namespace"] is JsonValue given && (string?)given != ns)
        {
            throw new ApiException(400, "BadRequest", $"the namespace of the object ({given}) does not match the namespace of the request ({ns})");
        }

        obj["apiVersion"] = resource.ApiVersion;
        obj["kind"] = resource.Kind;
        metadata["name"] = name;
        if (ns is not null)
        {
            metadata["namespace"] = ns;
        }

        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = Timestamp();
        metadata["generation"] = 1L;
        metadata.Remove("resourceVersion");
        if (resource.Schema is not null && resource.HasStatus)
        {
            obj.Remove("status");
        }

        lock (store.Gate)
        {
            var key = new StoreKey(resource.Group, resource.Plural, ns ?? "", name);
            if (store.Get(key) is not null)
            {
                throw new ApiException(409, "AlreadyExists", $"{resource.Plural} \"{name}\" already exists",
                    new JsonObject { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Plural });
            }

            Validate(resource, obj, null, strict);
            return Save(resource, key, obj);
        }
    }

    private JsonObject Update(ApiResource resource, StoreKey key, string? sub, JsonObject candidate, bool strict = false)
    {
        lock (store.Gate)
        {
            var current = Existing(resource, key);
            if (sub == "scale")
            {
                return ScaleView(resource, ApplyScale(resource, key, current, candidate));
            }

            CheckResourceVersion(resource, key, current, candidate);
            return Finish(resource, key, sub, current, candidate, strict);
        }
    }

    private JsonObject Patch(ApiResource resource, StoreKey key, string? sub, string contentType, string body, bool strict)
    {
        var patch = JsonNode.Parse(body);
        lock (store.Gate)
        {
            var current = Existing(resource, key);
            var view = sub == "scale" ? ScaleView(resource, current) : current;
            JsonNode? patched;
            try
            {
                patched = contentType.Split(';')[0].Trim() switch
                {
                    "application/json-patch+json" => Patches.Apply(view, patch as JsonArray ?? throw new PatchException("a JSON patch must be an array")),
                    "application/merge-patch+json" or "application/strategic-merge-patch+json" => Patches.Merge(view, patch),
                    _ => throw new ApiException(415, "UnsupportedMediaType", $"the patch content type \"{contentType}\" is not supported (use merge or JSON patch)"),
                };
            }
            catch (PatchException e)
            {
                throw new ApiException(422, "Invalid", $"the patch cannot be applied: {e.Message}");
            }

            var candidate = patched as JsonObject ?? throw new ApiException(422, "Invalid", "the patched object is not a JSON object");
            if (sub == "scale")
            {
                return ScaleView(resource, ApplyScale(resource, key, current, candidate));
            }

            CheckResourceVersion(resource, key, current, candidate);
            return Finish(resource, key, sub, current, candidate, strict);
        }
    }

    private JsonObject Delete(ApiResource resource, StoreKey key)
    {
        lock (store.Gate)
        {
            var current = Existing(resource, key);
            if (current["metadata"]?["finalizers"] is JsonArray { Count: > 0 })
            {
                if (current["metadata"]!["deletionTimestamp"] is null)
                {
                    current["metadata"]!["deletionTimestamp"] = Timestamp();
                    return store.Put(key, current);
                }

                return current;
            }

            return RemoveCascading(key)!;
        }
    }

    private JsonObject? RemoveCascading(StoreKey key)
    {
        var removed = store.Remove(key);
        if ((string?)removed?["metadata"]?["uid"] is { } uid)
        {
            foreach (var dependent in store.Dependents(uid))
            {
                RemoveCascading(dependent);
            }
        }

        return removed;
    }

    private JsonObject Finish(ApiResource resource, StoreKey key, string? sub, JsonObject current, JsonObject candidate, bool strict = false)
    {
        JsonObject result;
        if (sub == "status")
        {
            result = current.DeepClone().AsObject();
            result["status"] = candidate["status"]?.DeepClone();
        }
        else
        {
            result = candidate.DeepClone().AsObject();
            var metadata = result["metadata"] as JsonObject ?? (JsonObject)(result["metadata"] = new JsonObject());
            var old = current["metadata"]!.AsObject();
            foreach (var field in new[] { "uid", "creationTimestamp", "generation", "deletionTimestamp", "name", "namespace" })
            {
                metadata[field] = old[field]?.DeepClone();
            }

            result["apiVersion"] = resource.ApiVersion;
            result["kind"] = resource.Kind;
            if (resource.HasStatus)
            {
                result["status"] = current["status"]?.DeepClone();
            }

            if (resource.TracksGeneration && !JsonNode.DeepEquals(current["spec"], result["spec"]))
            {
                metadata["generation"] = long.Parse(old["generation"]?.ToJsonString() ?? "1", CultureInfo.InvariantCulture) + 1;
            }
        }

        Validate(resource, result, current, strict);
        if (result["metadata"]?["deletionTimestamp"] is not null && result["metadata"]?["finalizers"] is not JsonArray { Count: > 0 })
        {
            return RemoveCascading(key)!;
        }

        return Save(resource, key, result);
    }

    private JsonObject ApplyScale(ApiResource resource, StoreKey key, JsonObject current, JsonObject scale)
    {
        var replicas = scale["spec"]?["replicas"] as JsonValue ?? throw new ApiException(422, "Invalid", "spec.replicas: Required value");
        var result = current.DeepClone().AsObject();
        JsonPaths.Set(result, resource.Scale!.SpecReplicasPath, replicas.DeepClone());
        return Finish(resource, key, null, current, result);
    }

    private static JsonObject ScaleView(ApiResource resource, JsonObject obj)
    {
        var scale = resource.Scale ?? throw new ApiException(404, "NotFound", $"{resource.Plural} has no scale subresource");
        var metadata = obj["metadata"]!.AsObject();
        return new JsonObject
        {
            ["apiVersion"] = "autoscaling/v1",
            ["kind"] = "Scale",
            ["metadata"] = new JsonObject
            {
                ["name"] = metadata["name"]?.DeepClone(),
                ["namespace"] = metadata["namespace"]?.DeepClone(),
                ["uid"] = metadata["uid"]?.DeepClone(),
                ["resourceVersion"] = metadata["resourceVersion"]?.DeepClone(),
                ["creationTimestamp"] = metadata["creationTimestamp"]?.DeepClone(),
            },
            ["spec"] = new JsonObject { ["replicas"] = JsonPaths.Get(obj, scale.SpecReplicasPath)?.DeepClone() ?? 0 },
            ["status"] = new JsonObject
            {
                ["replicas"] = JsonPaths.Get(obj, scale.StatusReplicasPath)?.DeepClone() ?? 0,
                ["selector"] = scale.LabelSelectorPath is null ? null : JsonPaths.Get(obj, scale.LabelSelectorPath)?.DeepClone(),
            },
        };
    }

    private static void CheckResourceVersion(ApiResource resource, StoreKey key, JsonObject current, JsonObject candidate)
    {
        var expected = (string?)candidate["metadata"]?["resourceVersion"];
        if (!string.IsNullOrEmpty(expected) && expected != (string?)current["metadata"]!["resourceVersion"])
        {
            throw new ApiException(409, "Conflict",
                $"Operation cannot be fulfilled on {resource.Plural} \"{key.Name}\": the object has been modified; please apply your changes to the latest version and try again",
                new JsonObject { ["name"] = key.Name, ["group"] = resource.Group, ["kind"] = resource.Plural });
        }
    }

    /// <summary>Structural schema (defaults, pruning, types), then the CRD's CEL rules; <paramref name="old"/> is null on create.</summary>
    private void Validate(ApiResource resource, JsonObject obj, JsonObject? old, bool strict)
    {
        if (resource.Schema is null)
        {
            return;
        }

        var errors = StructuralSchema.Apply(resource.Schema, obj, strict)
            .Select(e => (JsonNode)new JsonObject { ["reason"] = "FieldValueInvalid", ["message"] = e }).ToList();
        var messages = errors.Select(e => (string)e["message"]!).ToList();
        foreach (var error in catalog.Rules(resource)?.Validate(obj, old) ?? [])
        {
            errors.Add(new JsonObject { ["reason"] = error.Reason, ["message"] = error.Message, ["field"] = error.Field });
            messages.Add(error.ToString());
        }

        if (errors.Count > 0)
        {
            var name = (string?)obj["metadata"]?["name"];
            throw new ApiException(422, "Invalid", $"{resource.Kind}.{resource.Group} \"{name}\" is invalid: {string.Join(", ", messages)}",
                new JsonObject
                {
                    ["name"] = name,
                    ["group"] = resource.Group,
                    ["kind"] = resource.Kind,
                    ["causes"] = new JsonArray([.. errors]),
                });
        }
    }

    private JsonObject Save(ApiResource resource, StoreKey key, JsonObject obj)
    {
        if (resource.Kind == "CustomResourceDefinition")
        {
            try
            {
                catalog.Register(obj);
            }
            catch (Cel.InvalidRulesException e)
            {
                throw new ApiException(422, "Invalid", $"CustomResourceDefinition.apiextensions.k8s.io \"{key.Name}\" is invalid: {string.Join(", ", e.Errors)}",
                    new JsonObject
                    {
                        ["name"] = key.Name,
                        ["group"] = "apiextensions.k8s.io",
                        ["kind"] = "CustomResourceDefinition",
                        ["causes"] = new JsonArray([.. e.Errors.Select(m => (JsonNode)new JsonObject { ["reason"] = "FieldValueInvalid", ["message"] = m })]),
                    });
            }
        }

        return store.Put(key, obj);
    }

    private static (string Group, string Version) SplitApiVersion(string apiVersion) =>
        apiVersion.Split('/') is [var g, var v] ? (g, v) : ("", apiVersion);

    private static string Timestamp() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
