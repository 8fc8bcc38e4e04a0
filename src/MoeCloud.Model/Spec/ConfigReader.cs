using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace MoeCloud.Model.Spec;

/// <summary>Typed access to the keys of a <c>config.json</c> object; every problem names the source and the key.</summary>
internal sealed class ConfigReader(JsonElement root, string source)
{
    public bool Has(string key) => root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public int Int(string key, int? fallback = null)
    {
        if (!TryGet(key, out var v))
        {
            return fallback ?? throw Missing(key);
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Error($"key '{key}' must be a whole number, got {v.GetRawText()}");
    }

    public double Double(string key, double fallback)
    {
        if (!TryGet(key, out var v))
        {
            return fallback;
        }

        return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw Error($"key '{key}' must be a finite number, got {v.GetRawText()}");
    }

    public bool Bool(string key, bool fallback)
    {
        if (!TryGet(key, out var v))
        {
            return fallback;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"key '{key}' must be true or false, got {v.GetRawText()}"),
        };
    }

    public string String(string key, string? fallback = null)
    {
        if (!TryGet(key, out var v))
        {
            return fallback ?? throw Missing(key);
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Error($"key '{key}' must be a string, got {v.GetRawText()}");
    }

    public int[] IntArray(string key)
    {
        if (!TryGet(key, out var v))
        {
            return [];
        }

        if (v.ValueKind != JsonValueKind.Array)
        {
            throw Error($"key '{key}' must be an array of whole numbers, got {v.GetRawText()}");
        }

        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i) ? i : throw Error($"key '{key}' must hold whole numbers, got {e.GetRawText()}")).ToArray();
    }

    public ModelConfigException Error(string problem) => new(source, problem);

    private ModelConfigException Missing(string key) => new(source, $"required key '{key}' is missing") { MissingKey = key };

    [DoesNotReturn]
    public void Fail(string problem) => throw Error(problem);

    private bool TryGet(string key, out JsonElement value) => root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;
}
