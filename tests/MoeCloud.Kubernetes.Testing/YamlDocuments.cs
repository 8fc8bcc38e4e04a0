using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>Reads multi-document YAML (as kubectl and helm write it) into JSON objects, keeping scalars typed.</summary>
public static class YamlDocuments
{
    public static List<JsonObject> Load(string yaml)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(yaml))
        {
            stream.Load(reader);
        }

        return stream.Documents
            .Where(d => d.RootNode is YamlMappingNode)
            .Select(d => JsonNode.Parse(Convert(d.RootNode)!.ToJsonString())!.AsObject())
            .ToList();
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode scalar => Scalar(scalar),
        _ => null,
    };

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (scalar.Style is YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted
            or YamlDotNet.Core.ScalarStyle.Literal or YamlDotNet.Core.ScalarStyle.Folded)
        {
            return JsonValue.Create(text);
        }

        return text switch
        {
            "null" or "~" or "" => null,
            "true" or "True" => JsonValue.Create(true),
            "false" or "False" => JsonValue.Create(false),
            _ when long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
            _ when double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) && text.Any(char.IsDigit) && !text.Contains(':', StringComparison.Ordinal) => JsonValue.Create(d),
            _ => JsonValue.Create(text),
        };
    }
}
