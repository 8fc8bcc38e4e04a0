using Microsoft.Extensions.Diagnostics.HealthChecks;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Hosting;

/// <summary>
/// Whether the gateway can serve: every model it serves has a plan, and at least one pod is available. One answer for
/// <c>/readyz</c> and for the gRPC health service (as the health check <c>ready</c>).
/// </summary>
public sealed class GatewayReadiness(GatewayModels models, PodDirectory pods) : IHealthCheck
{
    /// <summary>Why the gateway cannot serve yet, or null when it can.</summary>
    public string? NotReadyBecause()
    {
        var waiting = models.Names.Where(m => models.Find(m)!.PlanVersion == 0).ToArray();
        if (waiting.Length > 0)
        {
            return $"no plan yet for: {string.Join(", ", waiting)}";
        }

        return pods.Available().Count > 0 ? null : "no pod available";
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var why = NotReadyBecause();
        return Task.FromResult(why is null ? HealthCheckResult.Healthy("ready") : HealthCheckResult.Unhealthy(why));
    }
}
