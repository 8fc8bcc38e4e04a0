using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Admin;

/// <summary>The admin API over HTTP/JSON; the base address comes from <see cref="OperatorOptions.AdminEndpointTemplate"/>.</summary>
public sealed class HttpClusterAdminClient(HttpClient http, IOptions<OperatorOptions> options) : IClusterAdminClient
{
    public async Task<LiveProfile?> GetLiveProfileAsync(MoeDeployment deployment, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(Base(deployment), "admin/v1/profile"), cancellationToken);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.NoContent)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<LiveProfile>(AdminJson.Options, cancellationToken);
    }

    public async Task PublishPlanAsync(MoeDeployment deployment, PlanPublication plan, CancellationToken cancellationToken)
    {
        var uri = new Uri(Base(deployment), $"admin/v1/plans/{plan.Version.ToString(CultureInfo.InvariantCulture)}");
        using var response = await http.PutAsJsonAsync(uri, plan, AdminJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async Task<MigrationProgress?> GetProgressAsync(MoeDeployment deployment, int version, CancellationToken cancellationToken)
    {
        var uri = new Uri(Base(deployment), $"admin/v1/plans/{version.ToString(CultureInfo.InvariantCulture)}");
        using var response = await http.GetAsync(uri, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<MigrationProgress>(AdminJson.Options, cancellationToken);
    }

    public async Task<PlanPublication?> GetActivePlanAsync(MoeDeployment deployment, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(Base(deployment), "admin/v1/plans/active"), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<PlanPublication>(AdminJson.Options, cancellationToken);
    }

    public async Task<ServingSignals?> GetServingSignalsAsync(MoeDeployment deployment, string model, Uri? gateway, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        var uri = new Uri(gateway ?? Base(deployment), "admin/v1/serving?model=" + Uri.EscapeDataString(model));
        using var response = await http.GetAsync(uri, cancellationToken);
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.NoContent)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<ServingSignals>(AdminJson.Options, cancellationToken);
    }

    private Uri Base(MoeDeployment deployment)
    {
        var text = options.Value.AdminEndpointTemplate
            .Replace("{name}", deployment.Metadata.Name, StringComparison.Ordinal)
            .Replace("{namespace}", deployment.Metadata.NamespaceProperty, StringComparison.Ordinal);
        return new Uri(text.EndsWith('/') ? text : text + "/");
    }
}
