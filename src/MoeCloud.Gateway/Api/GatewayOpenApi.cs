using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace MoeCloud.Gateway.Api;

/// <summary>
/// The gateway's OpenAPI 3 documents, served on the HTTP port without a key (they describe the API, they hold no data):
/// <list type="bullet">
/// <item><c>/openapi/v1.json</c>: the JSON data API (<see cref="JsonApi"/>, routes under <c>/v1/</c>);</item>
/// <item><c>/openapi/admin.json</c>: the admin API (<see cref="AdminApi"/>, routes under <c>/admin/</c>), kept apart so
/// that clients of the data API never see, nor generate code for, the operator's endpoints.</item>
/// </list>
/// <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> are plain text and in neither; gRPC is described by its proto.
/// </summary>
public static class GatewayOpenApi
{
    /// <summary>The data API's document name.</summary>
    public const string DataDocument = "v1";

    /// <summary>The admin API's document name.</summary>
    public const string AdminDocument = "admin";

    /// <summary>The route of the documents.</summary>
    public const string Route = "/openapi/{documentName}.json";

    /// <summary>Registers both documents.</summary>
    public static void Add(IServiceCollection services)
    {
        services.AddOpenApi(DataDocument, o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) => Describe(document, "MoeCloud gateway JSON API", "Model info and MoE forward steps over HTTP/JSON; errors are application/problem+json."));
        });
        services.AddOpenApi(AdminDocument, o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("admin/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) => Describe(document, "MoeCloud gateway admin API", "Plans, profiles and serving signals for the operator; needs an admin key; errors are application/problem+json."));
        });
    }

    /// <summary>Serves the documents at <see cref="Route"/>.</summary>
    public static void Map(IEndpointRouteBuilder app) => app.MapOpenApi(Route);

    private static Task Describe(OpenApiDocument document, string title, string description)
    {
        document.Info = new OpenApiInfo { Title = title, Version = "v1", Description = description };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes["apiKey"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = "x-api-key",
            Description = "The API key (or 'Authorization: Bearer <key>').",
        };
        return Task.CompletedTask;
    }
}
