using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Microsoft.OpenApi.Reader;
using MoeCloud.Gateway.Api;

namespace MoeCloud.Gateway.Tests.Api;

/// <summary>The gateway's OpenAPI documents, fetched from the fixture's running gateway.</summary>
[Collection(GatewayCollection.Name)]
public sealed partial class OpenApiDocumentTests(GatewayFixture fixture)
{
    // Routes that are not JSON API routes: plain-text probes, metrics, and the documents themselves.
    private static readonly HashSet<string> PlainRoutes = ["/healthz", "/readyz", "/metrics", GatewayOpenApi.Route, AdminPage.Path];

    [Theory]
    [InlineData("v1")]
    [InlineData("admin")]
    public async Task Document_WhenFetched_ParsesAsOpenApi3WithoutErrors(string name)
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };

        var response = await http.GetAsync($"/openapi/{name}.json");
        var text = await response.Content.ReadAsStringAsync();
        var read = OpenApiDocument.Parse(text, "json", new OpenApiReaderSettings());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("3.", JsonDocument.Parse(text).RootElement.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.NotNull(read.Document);
        Assert.NotNull(read.Diagnostic);
        Assert.Empty(read.Diagnostic.Errors);
        Assert.NotEmpty(read.Document.Paths);
    }

    [Fact]
    public async Task Documents_ListEveryJsonRouteTheGatewayMaps()
    {
        var documented = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in new[] { GatewayOpenApi.DataDocument, GatewayOpenApi.AdminDocument })
        {
            foreach (var path in (await Fetch(name)).GetProperty("paths").EnumerateObject())
            {
                foreach (var operation in path.Value.EnumerateObject())
                {
                    documented.Add($"{operation.Name.ToUpperInvariant()} {path.Name}");
                }
            }
        }

        var mapped = fixture.Gateway.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => !IsGrpc(e) && e.RoutePattern.RawText is { } raw && !PlainRoutes.Contains(raw))
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["ANY"]).Select(m => $"{m} {Normalise(e.RoutePattern.RawText!)}"))
            .ToHashSet(StringComparer.Ordinal);

        Assert.Contains("POST /v1/models/{model}:forward", mapped);
        Assert.Contains("PUT /admin/v1/plans/{version}", mapped);
        Assert.Empty(mapped.Except(documented));
    }

    [Theory]
    [InlineData("/v1/models/{model}:forward")]
    [InlineData("/v1/models/{model}:forwardLayer")]
    public async Task ForwardRequestSchema_HasTheTensorFields_AndErrorsAreProblemJson(string path)
    {
        var document = await Fetch(GatewayOpenApi.DataDocument);

        var operation = document.GetProperty("paths").GetProperty(path).GetProperty("post");
        var request = Resolve(document, operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema"));
        var properties = request.GetProperty("properties");
        var hidden = Resolve(document, properties.GetProperty("hidden"));
        var routing = Resolve(document, properties.GetProperty("routing")).GetProperty("properties");
        var responses = operation.GetProperty("responses");

        Assert.Equal("array", TypeOf(hidden));
        Assert.Equal("array", TypeOf(Resolve(document, hidden.GetProperty("items"))));
        Assert.Equal("number", TypeOf(Resolve(document, Resolve(document, hidden.GetProperty("items")).GetProperty("items"))));
        Assert.All(new[] { "firstLayer", "lastLayer", "layer", "sequenceId" }, p => Assert.True(properties.TryGetProperty(p, out _), p));
        Assert.Equal(["hidden"], request.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        Assert.All(new[] { "topK", "expertIds", "weights" }, p => Assert.True(routing.TryGetProperty(p, out _), p));
        Assert.True(responses.GetProperty("200").GetProperty("content").TryGetProperty("application/json", out _));
        Assert.All(new[] { "400", "401", "404", "413", "415", "429", "503", "504" }, s => Assert.True(responses.GetProperty(s).GetProperty("content").TryGetProperty(Problems.MediaType, out _), s));
    }

    [Fact]
    public async Task DataDocument_WhenFetched_LeavesTheAdminApiToItsOwnDocument()
    {
        var data = await Fetch(GatewayOpenApi.DataDocument);
        var admin = await Fetch(GatewayOpenApi.AdminDocument);

        Assert.All(data.GetProperty("paths").EnumerateObject(), p => Assert.StartsWith("/v1/", p.Name, StringComparison.Ordinal));
        Assert.All(admin.GetProperty("paths").EnumerateObject(), p => Assert.StartsWith("/admin/", p.Name, StringComparison.Ordinal));
    }

    private async Task<JsonElement> Fetch(string name)
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        return JsonDocument.Parse(await http.GetStringAsync($"/openapi/{name}.json")).RootElement.Clone();
    }

    // A route template as OpenAPI writes it: parameters without their constraints ({version:int} → {version}).
    private static string Normalise(string route) => ParameterConstraint().Replace(route.StartsWith('/') ? route : "/" + route, "{$1}");

    // gRPC methods, and the fallbacks Grpc.AspNetCore maps for unknown services and methods: described by the proto.
    private static bool IsGrpc(RouteEndpoint endpoint) =>
        endpoint.Metadata.GetMetadata<GrpcMethodMetadata>() is not null || endpoint.DisplayName?.StartsWith("gRPC - ", StringComparison.Ordinal) == true;

    // Follows $ref, and picks the non-null variant of a nullable oneOf.
    private static JsonElement Resolve(JsonElement document, JsonElement schema)
    {
        if (schema.TryGetProperty("oneOf", out var variants))
        {
            return Resolve(document, variants.EnumerateArray().First(v => !(v.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "null")));
        }

        if (!schema.TryGetProperty("$ref", out var reference))
        {
            return schema;
        }

        var target = document;
        foreach (var part in reference.GetString()!.TrimStart('#', '/').Split('/'))
        {
            target = target.GetProperty(part);
        }

        return Resolve(document, target);
    }

    // "type" is a string, or (OpenAPI 3.1) an array such as ["null", "array"].
    private static string? TypeOf(JsonElement schema)
    {
        var type = schema.GetProperty("type");
        return type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()).First(t => t != "null") : type.GetString();
    }

    [GeneratedRegex(@"\{([^}:=?]+)[^}]*\}")]
    private static partial Regex ParameterConstraint();
}
