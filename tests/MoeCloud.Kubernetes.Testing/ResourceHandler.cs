using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>Routes API requests and implements the REST verbs over the <see cref="ObjectStore"/>.</summary>
internal sealed partial class ResourceHandler(ObjectStore store, ResourceCatalog catalog)
{
    private readonly ConcurrentQueue<string> _requestLog = new();

    public ObjectStore Store => store;

    public ResourceCatalog Catalog => catalog;

    public IReadOnlyCollection<string> RequestLog => _requestLog;

    public void Seed()
    {
        foreach (var ns in new[] { "default", "kube-system" })
        {
            CreateOrReplace(new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ns } });
        }
    }

    public async Task HandleAsync(HttpContext context)
    {
        try
        {
            await RouteAsync(context);
        }
        catch (ApiException e)
        {
            await WriteAsync(context, e.Code, StatusObject(e.Code, e.Reason, e.Message, e.Details));
        }
        catch (JsonException e)
        {
            await WriteAsync(context, 400, StatusObject(400, "BadRequest", $"malformed JSON body: {e.Message}", null));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException && !context.Response.HasStarted)
        {
            await WriteAsync(context, 500, StatusObject(500, "InternalError", $"{e.GetType().Name}: {e.Message}", null));
        }
        finally
        {
            _requestLog.Enqueue($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString} {context.Response.StatusCode}");
        }
    }

    private async Task RouteAsync(HttpContext context)
    {
        var segments = context.Request.Path.Value!.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (segments)
        {
            case ["version"]:
                await WriteAsync(context, 200, Discovery.Version());
                return;
            case ["openapi", "v3"]:
                await WriteAsync(context, 200, OpenApi.Index(catalog));
                return;
            case ["openapi", "v3", "apis", var g, var v] when OpenApi.Document(catalog, g, v) is { } document:
                await WriteAsync(context, 200, document);
                return;
            case ["api"]:
                await WriteAsync(context, 200, Discovery.CoreVersions());
                return;
            case ["apis"]:
                await WriteAsync(context, 200, Discovery.Groups(catalog));
                return;
            case ["api", var v]:
                await WriteAsync(context, 200, Discovery.Resources(catalog, "", v));
                return;
            case ["apis", var g] when catalog.All.Any(r => r.Group == g):
                await WriteAsync(context, 200, Discovery.Group(catalog, g));
                return;
            case ["apis", var g, var v] when catalog.All.Any(r => r.Group == g && r.Version == v):
                await WriteAsync(context, 200, Discovery.Resources(catalog, g, v));
                return;
            case ["api", var v, .. var rest]:
                await ResourceAsync(context, "", v, rest);
                return;
            case ["apis", var g, var v, .. var rest]:
                await ResourceAsync(context, g, v, rest);
                return;
            default:
                throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({context.Request.Path})");
        }
    }

    private async Task ResourceAsync(HttpContext context, string group, string version, string[] rest)
    {
        string? ns = null;
        if (rest is ["namespaces", var n, var p, ..] && catalog.Find(group, version, p) is { Namespaced: true })
        {
            ns = n;
            rest = rest[2..];
        }

        var resource = catalog.Find(group, version, rest[0])
            ?? throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({context.Request.Path})");
        var name = rest.ElementAtOrDefault(1);
        var sub = rest.ElementAtOrDefault(2);
        if (sub is not null && !(sub == "status" && resource.HasStatus) && !(sub == "scale" && resource.Scale is not null))
        {
            throw new ApiException(404, "NotFound", $"{resource.Plural} has no subresource \"{sub}\"");
        }

        var method = context.Request.Method;
        if (name is null)
        {
            switch (method)
            {
                case "GET" when IsWatch(context.Request):
                    await WatchAsync(context, resource, ns);
                    return;
                case "GET":
                    await ListAsync(context, resource, ns);
                    return;
                case "POST":
                    var created = Create(resource, ns, await ReadObjectAsync(context), IsStrict(context.Request));
                    await WriteAsync(context, 201, created);
                    return;
            }
        }
        else
        {
            var key = new StoreKey(group, resource.Plural, ns ?? "", name);
            JsonObject result = method switch
            {
                "GET" => sub == "scale" ? ScaleView(resource, Existing(resource, key)) : Existing(resource, key),
                "PUT" => Update(resource, key, sub, await ReadObjectAsync(context), IsStrict(context.Request)),
                "PATCH" => Patch(resource, key, sub, context.Request.ContentType ?? "", await ReadBodyAsync(context), IsStrict(context.Request)),
                "DELETE" => Delete(resource, key),
                _ => throw new ApiException(405, "MethodNotAllowed", $"{method} is not supported on {resource.Plural}"),
            };
            await WriteAsync(context, 200, result);
            return;
        }

        throw new ApiException(405, "MethodNotAllowed", $"{method} is not supported on the {resource.Plural} collection");
    }

    private async Task ListAsync(HttpContext context, ApiResource resource, string? ns)
    {
        var (items, version) = store.List(resource.Group, resource.Plural, ns);
        var selected = items.Where(Selectors.Matcher(context.Request.Query)).ToList();
        if (context.Request.Headers.Accept.Any(a => a is not null && a.Contains("as=Table", StringComparison.Ordinal)))
        {
            await WriteAsync(context, 200, Discovery.Table(resource, selected, version, DateTimeOffset.UtcNow));
            return;
        }

        await WriteAsync(context, 200, new JsonObject
        {
            ["apiVersion"] = resource.ApiVersion,
            ["kind"] = resource.ListKind,
            ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
            ["items"] = new JsonArray(selected.Select(i => (JsonNode)i).ToArray()),
        });
    }

    private async Task WatchAsync(HttpContext context, ApiResource resource, string? ns)
    {
        var query = context.Request.Query;
        long? since = long.TryParse(query["resourceVersion"], NumberStyles.None, CultureInfo.InvariantCulture, out var rv) && rv > 0 ? rv : null;
        var matches = Selectors.Matcher(query);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        var subscription = store.Watch(resource.Group, resource.Plural, ns, since);
        if (subscription is null)
        {
            var gone = StatusObject(410, "Expired", $"too old resource version: {since} ({store.ResourceVersion})", null);
            await WriteLineAsync(context, new JsonObject { ["type"] = "ERROR", ["object"] = gone });
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        if (int.TryParse(query["timeoutSeconds"], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        try
        {
            await context.Response.Body.FlushAsync(timeout.Token);
            await foreach (var change in subscription.Events.ReadAllAsync(timeout.Token))
            {
                if (matches(change.Object))
                {
                    await WriteLineAsync(context, new JsonObject { ["type"] = change.Type, ["object"] = change.Object });
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // The client went away or the watch's timeoutSeconds passed: the stream simply ends.
        }
        finally
        {
            store.Unsubscribe(subscription);
        }
    }

    private JsonObject Existing(ApiResource resource, StoreKey key) =>
        store.Get(key) ?? throw NotFound(resource, key.Name);

    private static ApiException NotFound(ApiResource resource, string name) =>
        new(404, "NotFound", $"{resource.Plural}{(resource.Group.Length > 0 ? "." + resource.Group : "")} \"{name}\" not found",
            new JsonObject { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Plural });

    private static bool IsStrict(HttpRequest request) => request.Query["fieldValidation"] == "Strict";

    private static bool IsWatch(HttpRequest request) => request.Query["watch"] is var w && (w == "1" || w == "true");

    private static async Task<string> ReadBodyAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        return await reader.ReadToEndAsync(context.RequestAborted);
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpContext context) =>
        JsonNode.Parse(await ReadBodyAsync(context)) as JsonObject
        ?? throw new ApiException(400, "BadRequest", "the request body must be a JSON object");

    private static JsonObject StatusObject(int code, string reason, string message, JsonObject? details) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["details"] = details,
        ["code"] = code,
    };

    private static async Task WriteAsync(HttpContext context, int code, JsonObject body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    private static async Task WriteLineAsync(HttpContext context, JsonObject line)
    {
        await context.Response.WriteAsync(line.ToJsonString() + "\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}

/// <summary>An API error, answered as a Status object with its HTTP code.</summary>
internal sealed class ApiException(int code, string reason, string message, JsonObject? details = null) : Exception(message)
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;

    public JsonObject? Details { get; } = details;
}
