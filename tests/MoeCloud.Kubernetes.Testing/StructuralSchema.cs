using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>
/// What the API server does with a custom resource's openAPIV3Schema before storing it: applies defaults, prunes
/// unknown fields, and validates types, required fields, bounds, lengths, patterns and enums. CEL rules
/// (<c>x-kubernetes-validations</c>) are evaluated afterwards by <see cref="Cel.SchemaRules"/>.
/// </summary>
public static class StructuralSchema
{
    /// <summary>Defaults and prunes <paramref name="root"/> in place; returns the validation errors (empty when valid).</summary>
    /// <param name="strict">Report unknown fields as errors (fieldValidation=Strict) instead of pruning them silently.</param>
    public static IReadOnlyList<string> Apply(JsonObject schema, JsonObject root, bool strict = false)
    {
        var errors = new List<string>();
        Walk(schema, root, "", new WalkState(errors, strict), isRoot: true);
        return errors;
    }

    private static void Walk(JsonObject schema, JsonNode? node, string path, WalkState state, bool isRoot = false)
    {
        if (node is null)
        {
            return;
        }

        var type = (string?)schema["type"];
        if (type is not null && !HasType(node, type))
        {
            state.Errors.Add($"{Display(path)}: Invalid value: {node.ToJsonString()}: must be of type {type}");
            return;
        }

        switch (node)
        {
            case JsonObject obj:
                WalkObject(schema, obj, path, state, isRoot);
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(items, array[i], $"{path}[{i}]", state);
                }

                break;
            case JsonValue value:
                CheckValue(schema, value, path, state);
                break;
        }
    }

    private static void WalkObject(JsonObject schema, JsonObject obj, string path, WalkState state, bool isRoot)
    {
        if (schema["properties"] is JsonObject properties)
        {
            foreach (var (name, propertySchema) in properties)
            {
                if (!obj.ContainsKey(name) && propertySchema?["default"] is { } defaultValue)
                {
                    obj[name] = defaultValue.DeepClone();
                }
            }

            var preserve = schema["x-kubernetes-preserve-unknown-fields"] is JsonValue p && p.GetValue<bool>();
            if (!preserve)
            {
                foreach (var unknown in obj.Select(kv => kv.Key).Where(k => !properties.ContainsKey(k)).ToList())
                {
                    if (state.Strict)
                    {
                        state.Errors.Add($"unknown field \"{(path.Length == 0 ? unknown : $"{path}.{unknown}")}\"");
                    }

                    obj.Remove(unknown);
                }
            }

            foreach (var (name, propertySchema) in properties)
            {
                if (isRoot && name == "metadata")
                {
                    continue;
                }

                if (obj.ContainsKey(name) && propertySchema is JsonObject ps)
                {
                    Walk(ps, obj[name], path.Length == 0 ? name : $"{path}.{name}", state);
                }
            }
        }
        else if (schema["additionalProperties"] is JsonObject additional)
        {
            foreach (var (name, value) in obj.ToList())
            {
                Walk(additional, value, $"{path}[{name}]", state);
            }
        }

        if (schema["required"] is JsonArray required)
        {
            foreach (var name in required.Select(r => (string)r!).Where(r => !obj.ContainsKey(r)))
            {
                state.Errors.Add($"{Display(path.Length == 0 ? name : $"{path}.{name}")}: Required value");
            }
        }
    }

    private static void CheckValue(JsonObject schema, JsonValue value, string path, WalkState state)
    {
        if (value.GetValueKind() == JsonValueKind.Number)
        {
            var number = Number(value);
            if (schema["minimum"] is JsonValue min && number < Number(min))
            {
                state.Errors.Add($"{Display(path)}: Invalid value: {value.ToJsonString()}: should be greater than or equal to {min.ToJsonString()}");
            }

            if (schema["maximum"] is JsonValue max && number > Number(max))
            {
                state.Errors.Add($"{Display(path)}: Invalid value: {value.ToJsonString()}: should be less than or equal to {max.ToJsonString()}");
            }
        }

        if (value.GetValueKind() == JsonValueKind.String && schema["minLength"] is JsonValue minLength
            && value.GetValue<string>().Length < Number(minLength))
        {
            state.Errors.Add($"{Display(path)}: Invalid value: {value.ToJsonString()}: should be at least {minLength.ToJsonString()} chars long");
        }

        if (value.GetValueKind() == JsonValueKind.String && schema["maxLength"] is JsonValue maxLength
            && value.GetValue<string>().Length > Number(maxLength))
        {
            state.Errors.Add($"{Display(path)}: Too long: may not be more than {maxLength.ToJsonString()} bytes");
        }

        if (value.GetValueKind() == JsonValueKind.String && schema["pattern"] is JsonValue pattern
            && !Regex.IsMatch(value.GetValue<string>(), pattern.GetValue<string>(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
        {
            state.Errors.Add($"{Display(path)}: Invalid value: {value.ToJsonString()}: {Display(path)} in body should match '{pattern.GetValue<string>()}'");
        }

        if (schema["enum"] is JsonArray allowed && !allowed.Any(a => JsonNode.DeepEquals(a, value)))
        {
            state.Errors.Add($"{Display(path)}: Unsupported value: {value.ToJsonString()}: supported values: {string.Join(", ", allowed.Select(a => a!.ToJsonString()))}");
        }
    }

    internal static bool HasType(JsonNode node, string type) => (type, node) switch
    {
        ("object", JsonObject) => true,
        ("array", JsonArray) => true,
        ("string", JsonValue v) => v.GetValueKind() == JsonValueKind.String,
        ("boolean", JsonValue v) => v.GetValueKind() is JsonValueKind.True or JsonValueKind.False,
        ("number", JsonValue v) => v.GetValueKind() == JsonValueKind.Number,
        ("integer", JsonValue v) => v.GetValueKind() == JsonValueKind.Number && double.IsInteger(Number(v)),
        _ => false,
    };

    private static double Number(JsonValue value) => double.Parse(value.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static string Display(string path) => path.Length == 0 ? "<root>" : path;

    private sealed record WalkState(List<string> Errors, bool Strict);
}
