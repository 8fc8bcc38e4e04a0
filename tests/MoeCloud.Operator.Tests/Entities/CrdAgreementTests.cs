using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.Entities;

/// <summary>The C# entity types and the CRD YAML must never drift: same fields, compatible types, same defaults.</summary>
public sealed class CrdAgreementTests
{
    public static TheoryData<string, Type> Kinds() => new()
    {
        { "moemodels", typeof(MoeModel) },
        { "moedeployments", typeof(MoeDeployment) },
        { "expertplacements", typeof(ExpertPlacement) },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Entity_WhenComparedWithCrdSchema_HasTheSameFieldsTypesAndDefaults(string plural, Type entity)
    {
        var schema = CrdSchemas.Schema(CrdSchemas.Load(plural));
        var problems = new List<string>();
        Compare(entity, schema, "", problems);
        Assert.Empty(problems);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void CrdSchema_WhenWalked_IsStructuralAndDescribesEveryField(string plural, Type entity)
    {
        Assert.NotNull(entity);
        Assert.Empty(CrdSchemas.Problems(CrdSchemas.Schema(CrdSchemas.Load(plural))));
    }

    [Fact]
    public void Compare_WhenEntityHasExtraField_ReportsIt()
    {
        var schema = JsonNode.Parse("""{"type":"object","properties":{"name":{"type":"string"}}}""")!.AsObject();
        var problems = new List<string>();
        Compare(typeof(ModelReferenceWithExtra), schema, "", problems);
        Assert.Equal([".extra: in C# but not in the CRD"], problems);
    }

    [Fact]
    public void CrdSchemas_WhenFieldLacksDescription_ReportsIt()
    {
        var schema = JsonNode.Parse("""{"type":"object","description":"x","properties":{"a":{"type":"string"}}}""")!.AsObject();
        Assert.Equal([".a: no description"], CrdSchemas.Problems(schema));
    }

    private static void Compare(Type type, JsonObject schema, string path, List<string> problems)
    {
        var properties = schema["properties"] as JsonObject ?? [];
        var instance = type.GetConstructor(Type.EmptyTypes) is not null ? Activator.CreateInstance(type) : null;
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var name = property.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name;
            if (name is null)
            {
                problems.Add($"{path}.{property.Name}: no [JsonPropertyName]");
                continue;
            }

            if (properties[name] is not JsonObject field)
            {
                problems.Add($"{path}.{name}: in C# but not in the CRD");
                continue;
            }

            CompareField(property, instance, field, $"{path}.{name}", problems);
        }

        var names = type.GetProperties().Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name).ToHashSet();
        foreach (var (name, _) in properties.Where(p => !names.Contains(p.Key)))
        {
            problems.Add($"{path}.{name}: in the CRD but not in C#");
        }
    }

    private static void CompareField(PropertyInfo property, object? instance, JsonObject field, string path, List<string> problems)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var expected = JsonType(type);
        var actual = (string?)field["type"];
        if (expected != actual)
        {
            problems.Add($"{path}: C# {type.Name} is {expected} but the CRD says {actual}");
            return;
        }

        if (field["default"] is { } defaultValue && instance is not null && defaultValue is JsonValue)
        {
            var csharp = JsonSerializer.SerializeToNode(property.GetValue(instance));
            if (!JsonNode.DeepEquals(JsonNode.Parse(csharp?.ToJsonString() ?? "null"), JsonNode.Parse(defaultValue.ToJsonString())))
            {
                problems.Add($"{path}: C# default {csharp?.ToJsonString()} but the CRD default {defaultValue.ToJsonString()}");
            }
        }

        if (path is ".metadata" || type == typeof(V1Condition))
        {
            return;
        }

        if (expected == "object")
        {
            Compare(type, field, path, problems);
        }
        else if (expected == "array" && ElementType(type) is { } element && JsonType(element) == "object" && element != typeof(V1Condition))
        {
            Compare(element, field["items"]!.AsObject(), path + "[]", problems);
        }
    }

    private static string JsonType(Type type) => type switch
    {
        _ when type == typeof(string) => "string",
        _ when type == typeof(bool) => "boolean",
        _ when type == typeof(int) || type == typeof(long) => "integer",
        _ when type == typeof(double) => "number",
        _ when type == typeof(DateTime) => "string",
        _ when ElementType(type) is not null => "array",
        _ => "object",
    };

    private static Type? ElementType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IList<>) ? type.GetGenericArguments()[0] : null;

    private sealed class ModelReferenceWithExtra
    {
        [JsonPropertyName("name")]
        public string Name { get; set; } = "";

        [JsonPropertyName("extra")]
        public string Extra { get; set; } = "";
    }
}
