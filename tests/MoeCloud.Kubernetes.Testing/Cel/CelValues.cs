using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>
/// A CEL list. Lists from schema nodes with <c>x-kubernetes-list-type</c> set or map compare equal regardless of
/// order, as in Kubernetes; all other lists compare element by element.
/// </summary>
public sealed class CelList(IReadOnlyList<object?> items, bool unordered = false) : IReadOnlyList<object?>
{
    /// <summary>Whether equality ignores order (list-type set or map).</summary>
    public bool Unordered { get; } = unordered;

    /// <inheritdoc />
    public int Count => items.Count;

    /// <inheritdoc />
    public object? this[int index] => items[index];

    /// <inheritdoc />
    public IEnumerator<object?> GetEnumerator() => items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A CEL map (also the value of a JSON object); keys are long, ulong, bool or string, in insertion order.</summary>
public sealed class CelMap(IReadOnlyDictionary<object, object?> entries) : IReadOnlyDictionary<object, object?>
{
    /// <inheritdoc />
    public int Count => entries.Count;

    /// <inheritdoc />
    public IEnumerable<object> Keys => entries.Keys;

    /// <inheritdoc />
    public IEnumerable<object?> Values => entries.Values;

    /// <inheritdoc />
    public object? this[object key] => entries[key];

    /// <inheritdoc />
    public bool ContainsKey(object key) => entries.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(object key, out object? value) => entries.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<object, object?>> GetEnumerator() => entries.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Conversion of JSON to CEL values by a structural schema, and CEL's equality and ordering.</summary>
internal static class CelValues
{
    /// <summary>
    /// The CEL value of a JSON node: objects become maps, arrays lists, and numbers int where the schema says
    /// integer (or, without a schema, where the number is integral) and double where it says number.
    /// </summary>
    public static object? FromJson(JsonNode? node, JsonObject? schema) => node switch
    {
        null => null,
        JsonObject obj => new CelMap(obj.ToDictionary(
            kv => (object)kv.Key,
            kv => FromJson(kv.Value, ChildSchema(schema, kv.Key)))),
        JsonArray array => new CelList(
            array.Select(item => FromJson(item, schema?["items"] as JsonObject)).ToList(),
            (string?)schema?["x-kubernetes-list-type"] is "set" or "map"),
        JsonValue value => Scalar(value, (string?)schema?["type"]),
        _ => throw new CelEvaluationException($"unsupported JSON node {node.GetType().Name}"),
    };

    /// <summary>The schema of property <paramref name="name"/> of an object schema (properties, then additionalProperties).</summary>
    public static JsonObject? ChildSchema(JsonObject? schema, string name) =>
        schema?["properties"]?[name] as JsonObject ?? schema?["additionalProperties"] as JsonObject;

    private static object? Scalar(JsonValue value, string? type)
    {
        switch (value.GetValueKind())
        {
            case JsonValueKind.String:
                return value.GetValue<string>();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Number:
                var text = value.ToJsonString();
                if (type != "number" && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
                {
                    return integer;
                }

                var number = double.Parse(text, CultureInfo.InvariantCulture);
                return type == "integer" && double.IsInteger(number) && Math.Abs(number) < 9.2e18 ? (long)number : number;
            default:
                return null;
        }
    }

    /// <summary>CEL's heterogeneous equality: numbers by value across int, uint and double; other kinds never equal.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (Numeric(a) && Numeric(b))
        {
            return CompareNumbers(a!, b!) == 0;
        }

        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (bool x, bool y) => x == y,
            (CelList x, CelList y) => ListsEqual(x, y),
            (CelMap x, CelMap y) => x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var other) && Equal(kv.Value, other)),
            _ => false,
        };
    }

    private static bool ListsEqual(CelList x, CelList y)
    {
        if (x.Count != y.Count)
        {
            return false;
        }

        if (!(x.Unordered && y.Unordered))
        {
            return x.Zip(y).All(pair => Equal(pair.First, pair.Second));
        }

        var unmatched = y.ToList();
        foreach (var item in x)
        {
            var index = unmatched.FindIndex(other => Equal(item, other));
            if (index < 0)
            {
                return false;
            }

            unmatched.RemoveAt(index);
        }

        return true;
    }

    public static bool Numeric(object? value) => value is long or ulong or double;

    /// <summary>Orders two numbers of any numeric kind exactly; null when either is NaN (every comparison is then false).</summary>
    public static int? CompareNumbers(object a, object b)
    {
        if (a is double da && double.IsNaN(da) || b is double db && double.IsNaN(db))
        {
            return null;
        }

        return (a, b) switch
        {
            (long x, long y) => x.CompareTo(y),
            (ulong x, ulong y) => x.CompareTo(y),
            (double x, double y) => x.CompareTo(y),
            (long x, ulong y) => x < 0 ? -1 : ((ulong)x).CompareTo(y),
            (ulong x, long y) => -CompareNumbers(y, x),
            (double x, _) => -CompareWithDouble(b, x),
            (_, double y) => CompareWithDouble(a, y),
            _ => throw new CelEvaluationException("no such overload"),
        };
    }

    /// <summary>Compares an int or uint with a double without losing precision near 2^63.</summary>
    private static int CompareWithDouble(object integer, double d)
    {
        if (double.IsPositiveInfinity(d) || d >= 18446744073709551616.0)
        {
            return -1;
        }

        if (double.IsNegativeInfinity(d) || d < -9223372036854775808.0)
        {
            return 1;
        }

        var floor = Math.Floor(d);
        var fraction = d - floor;
        int whole = integer switch
        {
            long when floor >= 9223372036854775808.0 => -1,
            long l => l.CompareTo((long)floor),
            ulong when floor < 0 => 1,
            ulong u => u.CompareTo((ulong)floor),
            _ => throw new CelEvaluationException("no such overload"),
        };
        return whole != 0 ? whole : fraction > 0 ? -1 : 0;
    }

    /// <summary>The CEL type name of a value, for error messages.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "null_type",
        long => "int",
        ulong => "uint",
        double => "double",
        string => "string",
        bool => "bool",
        CelList => "list",
        CelMap => "map",
        _ => value.GetType().Name,
    };

    /// <summary>A value as CEL would print it in an error or a string conversion.</summary>
    public static string Display(object? value) => value switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        ulong u => u.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        CelList list => "[" + string.Join(", ", list.Select(Quoted)) + "]",
        CelMap map => "{" + string.Join(", ", map.Select(kv => $"{Quoted(kv.Key)}: {Quoted(kv.Value)}")) + "}",
        _ => value.ToString() ?? "",
    };

    private static string Quoted(object? value) => value is string s ? JsonSerializer.Serialize(s) : Display(value);
}
