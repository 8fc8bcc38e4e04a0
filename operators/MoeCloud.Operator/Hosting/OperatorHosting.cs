using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MoeCloud.Operator.Admin;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Reconcilers;
using Prometheus;

namespace MoeCloud.Operator.Hosting;

public static class OperatorHosting
{
    /// <summary>Registers the operator: options (validated on start), the Kubernetes client, reconcilers, the admin client and the hosted service.</summary>
    public static IServiceCollection AddMoeCloudOperator(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperatorOptions>().Bind(configuration.GetSection(OperatorOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OperatorOptions>, OperatorOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IKubernetes>(_ => new Kubernetes(KubernetesClientConfiguration.IsInCluster()
            ? KubernetesClientConfiguration.InClusterConfig()
            : KubernetesClientConfiguration.BuildConfigFromConfigFile()));
        services.AddSingleton(_ => Metrics.NewCustomRegistry());
        services.AddSingleton<OperatorMetrics>();
        services.AddSingleton<OperatorState>();
        services.AddSingleton<CustomResourceClient>();
        services.AddSingleton<ChildApplier>();
        services.AddSingleton<GatewayKeys>();
        services.TryAddSingleton<IPlacementPlanner, LibraryPlanner>();
        services.AddHttpClient<IClusterAdminClient, HttpClusterAdminClient>((sp, c) =>
        {
            c.Timeout = TimeSpan.FromSeconds(10);
            if (sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<OperatorOptions>>().Value.AdminApiKey is { Length: > 0 } key)
            {
                c.DefaultRequestHeaders.Add("x-api-key", key);
            }
        });
        services.AddSingleton<PlanProgression>();
        services.AddSingleton<PodAutoscaling>();
        services.AddSingleton<MoeModelReconciler>();
        services.AddSingleton<MoeDeploymentReconciler>();
        services.AddHostedService<OperatorService>();
        return services;
    }

    /// <summary>/healthz (the process runs), /readyz (standby, or leading with synced informers) and /metrics.</summary>
    public static IEndpointRouteBuilder MapOperatorEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapGet("/healthz", (OperatorState state) => state.Started ? Results.Ok("ok") : Results.StatusCode(503));
        endpoints.MapGet("/readyz", (OperatorState state) => state.Started ? Results.Ok(state.Leading ? "leading" : "standby") : Results.StatusCode(503));
        endpoints.MapMetrics("/metrics", endpoints.ServiceProvider.GetRequiredService<CollectorRegistry>());
        return endpoints;
    }
}
