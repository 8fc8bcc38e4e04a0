using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Kube;

/// <summary>
/// The load the kube commands plan and rank from, read as the operator reads it: the cluster's live profile through
/// the gateway's admin API (the operator's <see cref="HttpClusterAdminClient"/>), and the deployment's profile ConfigMap
/// (<see cref="PlanningInputs.ConfigMapProfileAsync"/>).
/// </summary>
internal static class KubeProfiles
{
    /// <summary>The option that names the admin API; the operator reaches it inside the cluster, a user through a port-forward.</summary>
    public static Hosting.CliOption Admin { get; } = new("admin", "<url>  the deployment's admin API (after `kubectl port-forward svc/<name>-gateway-admin 8080`: http://localhost:8080); read for the live profile");

    /// <summary>The admin API key that goes with <see cref="Admin"/>.</summary>
    public static Hosting.CliOption AdminKeyOption { get; } = new("admin-key", $"<key>  the admin API key, sent as x-api-key (default: ${AdminKeyVariable}; the chart keeps it in the Secret <release>-admin-key, entry admin-api-key)");

    /// <summary>The environment variable that holds the admin API key when <c>--admin-key</c> is not given.</summary>
    public const string AdminKeyVariable = "MOECLOUD_ADMIN_KEY";

    /// <summary>The admin key from <c>--admin-key</c>, else <see cref="AdminKeyVariable"/>; null when neither is set.</summary>
    public static string? AdminKey(Hosting.CliArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args.Get("admin-key") ?? (Environment.GetEnvironmentVariable(AdminKeyVariable) is { Length: > 0 } key ? key : null);
    }

    /// <summary>The admin API's base address from <c>--admin</c>; null when not given; a usage error when not an absolute http(s) URL.</summary>
    public static Uri? AdminUrl(Hosting.CliArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var text = args.Get("admin");
        if (text is null)
        {
            return null;
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new Hosting.UsageException($"option '--admin' needs an absolute http(s) URL, got '{text}'");
    }

    /// <summary>The cluster's live profile from the admin API at <paramref name="admin"/>; null when it has no telemetry yet.</summary>
    public static async Task<LiveProfile?> LiveAsync(Uri admin, string? key, MoeDeployment d, CancellationToken cancellationToken)
    {
        using var http = AdminHttp(key);
        var client = new HttpClusterAdminClient(http, Options.Create(new OperatorOptions { AdminEndpointTemplate = admin.ToString() }));
        try
        {
            return await client.GetLiveProfileAsync(d, cancellationToken);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"GET {admin}admin/v1/profile: not a live profile: {e.Message}", e);
        }
    }

    /// <summary>
    /// The expert backend each pod runs, by pod ordinal, from the admin API's cluster view (<c>GET /admin/v1/cluster</c>,
    /// where the gateway lists the pods it found and what each silo said it runs).
    /// </summary>
    public static async Task<IReadOnlyDictionary<int, string>> BackendsAsync(Uri admin, string? key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(admin);
        using var http = AdminHttp(key);
        var url = new Uri(admin, "admin/v1/cluster");
        using var response = await http.GetAsync(url, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET {url}: {(int)response.StatusCode} {response.ReasonPhrase}{(response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden ? $" (pass --admin-key or set {AdminKeyVariable})" : "")}");
        }

        try
        {
            using var doc = await System.Text.Json.JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
            var backends = new Dictionary<int, string>();
            foreach (var pod in doc.RootElement.GetProperty("pods").EnumerateArray())
            {
                if (pod.TryGetProperty("expertBackend", out var b) && b.ValueKind == System.Text.Json.JsonValueKind.String)
                {
                    backends[pod.GetProperty("pod").GetInt32()] = b.GetString()!;
                }
            }

            return backends;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"GET {url}: not the admin API's cluster view: {e.Message}", e);
        }
    }

    private static HttpClient AdminHttp(string? key)
    {
        var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add("x-api-key", key);
        }

        return http;
    }

    /// <summary>The profile ConfigMap's profile (spec.placement.profileConfigMap); null when none is configured.</summary>
    public static async Task<WorkloadProfile?> ConfigMapAsync(KubeConnection connection, MoeDeployment d, MoeModel model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        try
        {
            return await KubeDeployment.CallAsync(() => PlanningInputs.ConfigMapProfileAsync(new CustomResourceClient(connection.Client), d, model, cancellationToken));
        }
        catch (PlanningException e)
        {
            throw new InvalidOperationException(e.Message, e);
        }
    }

    /// <summary>The library profile of <paramref name="live"/> for the plan's shape; null when there is none or it is another shape.</summary>
    public static WorkloadProfile? FromLive(LiveProfile? live, Placement.Plans.PlacementPlan plan)
    {
        try
        {
            return PlanningInputs.FromLive(live, plan);
        }
        catch (PlanningException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }
}
