using System.Globalization;
using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>RFC 7386 JSON merge patch and RFC 6902 JSON patch over System.Text.Json nodes.</summary>
public static class Patches
{
    /// <summary>Applies a merge patch (RFC 7386) and returns the result; <paramref name="target"/> is not changed.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target is JsonObject targetObject ? targetObject.DeepClone().AsObject() : [];
        foreach (var (name, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(name);
            }
            else
            {
                result[name] = Merge(result[name], value);
            }
        }

        return result;
    }

    /// <summary>Applies a JSON patch (RFC 6902) and returns the result; throws <see cref="PatchException"/> when an operation fails.</summary>
    public static JsonNode? Apply(JsonNode? target, JsonArray operations)
    {
        var document = target?.DeepClone();
        foreach (var operation in operations.Select(o => o as JsonObject ?? throw new PatchException("a JSON patch operation must be an object")))
        {
            var op = (string?)operation["op"] ?? throw new PatchException("a JSON patch operation needs \"op\"");
            var path = (string?)operation["path"] ?? throw new PatchException($"the \"{op}\" operation needs \"path\"");
            switch (op)
            {
                case "add":
                    document = Add(document, path, operation["value"]?.DeepClone());
                    break;
                case "remove":
                    document = Remove(document, path, out _);
                    break;
                case "replace":
                    document = Add(Remove(document, path, out _), path, operation["value"]?.DeepClone());
                    break;
                case "move":
                    document = Remove(document, From(operation, op), out var moved);
                    document = Add(document, path, moved);
                    break;
                case "copy":
                    document = Add(document, path, Resolve(document, From(operation, op))?.DeepClone());
                    break;
                case "test":
                    if (!JsonNode.DeepEquals(Resolve(document, path), operation["value"]))
                    {
                        throw new PatchException($"test failed at {path}");
                    }

                    break;
                default:
                    throw new PatchException($"unknown JSON patch operation \"{op}\"");
            }
        }

        return document;
    }

    private static string From(JsonObject operation, string op) =>
        (string?)operation["from"] ?? throw new PatchException($"the \"{op}\" operation needs \"from\"");

    private static string[] Tokens(string pointer)
    {
        if (pointer.Length == 0)
        {
            return [];
        }

        if (pointer[0] != '/')
        {
            throw new PatchException($"JSON pointer \"{pointer}\" must start with '/'");
        }

        return pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
    }

    private static JsonNode? Resolve(JsonNode? document, string pointer)
    {
        var node = document;
        foreach (var token in Tokens(pointer))
        {
            node = node switch
            {
                JsonObject o when o.ContainsKey(token) => o[token],
                JsonArray a when int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => throw new PatchException($"path {pointer} does not exist"),
            };
        }

        return node;
    }

    private static JsonNode? Add(JsonNode? document, string pointer, JsonNode? value)
    {
        var tokens = Tokens(pointer);
        if (tokens.Length == 0)
        {
            return value;
        }

        var parent = Resolve(document, ParentPointer(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= a.Count:
                a.Insert(i, value);
                break;
            default:
                throw new PatchException($"cannot add at {pointer}");
        }

        return document;
    }

    private static JsonNode? Remove(JsonNode? document, string pointer, out JsonNode? removed)
    {
        var tokens = Tokens(pointer);
        if (tokens.Length == 0)
        {
            throw new PatchException("cannot remove the whole document");
        }

        var parent = Resolve(document, ParentPointer(tokens));
        var last = tokens[^1];
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                removed = o[last];
                o.Remove(last);
                break;
            case JsonArray a when int.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count:
                removed = a[i];
                a.RemoveAt(i);
                break;
            default:
                throw new PatchException($"path {pointer} does not exist");
        }

        return document;
    }

    private static string ParentPointer(string[] tokens) =>
        tokens.Length == 1 ? "" : "/" + string.Join('/', tokens[..^1].Select(Escape));

    private static string Escape(string token) => token.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}

/// <summary>A patch that cannot be applied (answered with 422).</summary>
public sealed class PatchException(string message) : Exception(message);
