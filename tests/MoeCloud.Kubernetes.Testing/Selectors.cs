using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>labelSelector (=, ==, !=, exists, !exists) and fieldSelector (metadata.name, metadata.namespace) of list and watch.</summary>
internal static class Selectors
{
    public static Func<JsonObject, bool> Matcher(IQueryCollection query)
    {
        var tests = new List<Func<JsonObject, bool>>();
        foreach (var term in Terms(query["labelSelector"]))
        {
            tests.Add(LabelTest(term));
        }

        foreach (var term in Terms(query["fieldSelector"]))
        {
            var (field, value, negate) = Split(term);
            tests.Add(o => (string?)JsonPaths.Get(o, field!) == value != negate);
        }

        return o => tests.All(t => t(o));
    }

    private static Func<JsonObject, bool> LabelTest(string term)
    {
        if (term.StartsWith('!'))
        {
            var missing = term[1..];
            return o => o["metadata"]?["labels"]?[missing] is null;
        }

        var (key, value, negate) = Split(term);
        if (value is null)
        {
            return o => o["metadata"]?["labels"]?[key] is not null;
        }

        return o => ((string?)o["metadata"]?["labels"]?[key] == value) != negate;
    }

    private static (string Key, string? Value, bool Negate) Split(string term)
    {
        if (term.Split("!=") is [var k1, var v1])
        {
            return (k1.Trim(), v1.Trim(), true);
        }

        var parts = term.Split('=', 2);
        return parts.Length == 2 ? (parts[0].Trim(), parts[1].TrimStart('=').Trim(), false) : (term.Trim(), null, false);
    }

    private static IEnumerable<string> Terms(string? selector) =>
        string.IsNullOrWhiteSpace(selector) ? [] : selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
