using System.Text.Json.Nodes;
using MoeCloud.Kubernetes.Testing;

namespace MoeCloud.Operator.Tests.Support;

/// <summary>The CRDs of the chart and the checks every CRD schema must pass.</summary>
public static class CrdSchemas
{
    public static JsonObject Load(string plural) =>
        RepoPaths.CrdFiles.SelectMany(f => YamlDocuments.Load(File.ReadAllText(f)))
            .Single(c => (string?)c["spec"]!["names"]!["plural"] == plural);

    public static JsonObject Schema(JsonObject crd) =>
        crd["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!.AsObject();

    /// <summary>
    /// Structural-schema rules (every node has a type; no additionalProperties beside properties) plus the house rule
    /// that every field has a description (for kubectl explain); metadata is exempt as in Kubernetes.
    /// </summary>
    public static List<string> Problems(JsonObject schema)
    {
        var problems = new List<string>();
        Walk(schema, "", problems);
        return problems;
    }

    private static void Walk(JsonObject node, string path, List<string> problems)
    {
        if (node["type"] is null && node["x-kubernetes-int-or-string"] is null && node["x-kubernetes-preserve-unknown-fields"] is null)
        {
            problems.Add($"{path}: no type");
        }

        if (node["properties"] is not null && node["additionalProperties"] is not null)
        {
            problems.Add($"{path}: properties and additionalProperties together");
        }

        var scalarItem = path.EndsWith("[]", StringComparison.Ordinal) && node["properties"] is null;
        if (path != ".metadata" && !scalarItem && node["description"] is null)
        {
            problems.Add($"{(path.Length == 0 ? "<root>" : path)}: no description");
        }

        foreach (var (name, child) in node["properties"] as JsonObject ?? [])
        {
            Walk(child!.AsObject(), $"{path}.{name}", problems);
        }

        if (node["items"] is JsonObject items)
        {
            Walk(items, path + "[]", problems);
        }
    }
}
