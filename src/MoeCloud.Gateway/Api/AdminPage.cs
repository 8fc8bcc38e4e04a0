using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MoeCloud.Gateway.Api;

/// <summary>
/// A page to look at, <c>GET /admin/</c> on the HTTP port: the plan in effect as a heatmap (layers × pods, replicas per
/// cell, coloured by each pod's share of the layer's load), the hottest experts, and remote fraction and prediction hit
/// rate over time. One self-contained HTML file (no outside script, style or font) that polls the admin API every 2 s:
/// <c>admin/v1/cluster</c>, <c>plans/active</c>, <c>profile</c> and <c>serving</c>. The page itself holds no data and
/// is served without a key; every value comes through the admin API, which needs an admin key: the page asks for it
/// (or takes it from the address's fragment, <c>/admin/#key=…</c>, which a browser never sends), keeps it in the tab's
/// sessionStorage and sends it as <c>x-api-key</c>. Its Content-Security-Policy allows only its own inline script (by
/// hash), its own style, and requests to this origin.
/// </summary>
public static class AdminPage
{
    /// <summary>Where the page is served.</summary>
    public const string Path = "/admin/";

    private static readonly Lazy<(byte[] Html, string Policy)> Page = new(Load);

    /// <summary>Maps <see cref="Path"/> (routing answers <c>/admin</c> the same).</summary>
    public static void Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet(Path, (HttpContext http) =>
        {
            var (html, policy) = Page.Value;
            http.Response.Headers.ContentSecurityPolicy = policy;
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.CacheControl = "no-store";
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            return Results.Bytes(html, "text/html; charset=utf-8");
        }).ExcludeFromDescription();
    }

    private static (byte[] Html, string Policy) Load()
    {
        using var stream = typeof(AdminPage).Assembly.GetManifestResourceStream("MoeCloud.Gateway.AdminPage.html")
            ?? throw new InvalidOperationException("The admin page is missing from the gateway assembly.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var html = reader.ReadToEnd();
        const string open = "<script>", close = "</script>";
        var start = html.IndexOf(open, StringComparison.Ordinal) + open.Length;
        var script = html[start..html.IndexOf(close, start, StringComparison.Ordinal)];
        var hash = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)));
        var policy = $"default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
        return (Encoding.UTF8.GetBytes(html), policy);
    }
}
