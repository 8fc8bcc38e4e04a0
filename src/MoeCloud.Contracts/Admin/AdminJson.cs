using System.Text.Json;

namespace MoeCloud.Contracts.Admin;

/// <summary>The JSON settings of the admin contract (camelCase, case-insensitive reads), shared by the gateway and the operator.</summary>
public static class AdminJson
{
    /// <summary>The serializer options every admin body is written and read with.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);
}
