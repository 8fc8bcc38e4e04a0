using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MoeCloud.Contracts.Security;
using Orleans.Dashboard;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// The Orleans Dashboard on the silo's ops port (<see cref="MoeCloudSiloOptions.Dashboard"/>, off by default), under
/// <see cref="Path"/>, behind an admin key checked as the gateway's admin API checks its keys (<see cref="ApiKeys"/>):
/// <c>x-api-key</c>, <c>Authorization: Bearer</c>, or HTTP Basic with the key as the password (what a browser sends
/// after it asks; the user name is ignored). No key or a wrong one is 401 with a Basic challenge; a request on another
/// port (the runner's) is 404; with the option off nothing is mapped, so the path is 404.
/// </summary>
public static class OpsDashboard
{
    /// <summary>Where the dashboard is served on the ops port.</summary>
    public const string Path = "/dashboard";

    /// <summary>Adds the dashboard's grains and services to the silo, when the option is on.</summary>
    public static void AddTo(ISiloBuilder silo, MoeCloudSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Dashboard)
        {
            silo.AddDashboard();
        }
    }

    /// <summary>Maps the dashboard and its key check, when the option is on.</summary>
    public static void Map(WebApplication app, MoeCloudSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Dashboard)
        {
            return;
        }

        var hashes = options.AdminKeySha256.Select(ApiKeys.Digest).ToArray();
        app.UseWhen(http => http.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase), branch => branch.Use(async (http, next) =>
        {
            if (options.OpsPort != 0 && http.Connection.LocalPort != options.OpsPort)
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }

            var authorization = http.Request.Headers.Authorization.FirstOrDefault();
            var key = ApiKeys.Read(http.Request.Headers[ApiKeys.Header].FirstOrDefault(), authorization) ?? ApiKeys.ReadBasic(authorization);
            if (ApiKeys.Match(hashes, key) < 0)
            {
                http.Response.StatusCode = (int)HttpStatusCode.Unauthorized;
                http.Response.Headers.WWWAuthenticate = $"Basic realm=\"MoeCloud {options.SiloName}\", charset=\"UTF-8\"";
                await http.Response.WriteAsync(key is null
                    ? $"The dashboard needs an admin key ({ApiKeys.Header} header, Authorization: Bearer, or Basic with the key as the password).\n"
                    : "The admin key is not valid.\n");
                return;
            }

            await next(http);
        }));
        app.MapOrleansDashboard(Path);
    }
}
