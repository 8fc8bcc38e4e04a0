using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Admin;

/// <summary>
/// The operator's side of the cluster's admin API (served by the MoeCloud gateway; the bodies are the admin contract of
/// <c>MoeCloud.Contracts.Admin</c>, described in operators/README.md): read the live profile, publish a plan version, read a migration's progress and the plan in effect, read the serving signals.
/// </summary>
public interface IClusterAdminClient
{
    /// <summary>The live load profile; null when the cluster has no telemetry yet.</summary>
    Task<LiveProfile?> GetLiveProfileAsync(MoeDeployment deployment, CancellationToken cancellationToken);

    /// <summary>Publishes a plan version (idempotent: publishing the same version again changes nothing).</summary>
    Task PublishPlanAsync(MoeDeployment deployment, PlanPublication plan, CancellationToken cancellationToken);

    /// <summary>Progress of a plan version's migration; null when the cluster does not know the version.</summary>
    Task<MigrationProgress?> GetProgressAsync(MoeDeployment deployment, int version, CancellationToken cancellationToken);

    /// <summary>
    /// The plan the cluster has in effect (<c>GET admin/v1/plans/active</c>), whoever wrote it: the operator, or the
    /// silos' own repair plan after a pod died; null when the cluster has none yet.
    /// </summary>
    Task<PlanPublication?> GetActivePlanAsync(MoeDeployment deployment, CancellationToken cancellationToken);

    /// <summary>
    /// One gateway's serving signals for the deployment's model (<c>GET admin/v1/serving?model=</c>): the gateway at
    /// <paramref name="gateway"/> (a gateway pod's base address), or, when null, the one the admin endpoint reaches.
    /// Null when that gateway does not serve the model (yet).
    /// </summary>
    Task<ServingSignals?> GetServingSignalsAsync(MoeDeployment deployment, string model, Uri? gateway, CancellationToken cancellationToken);
}
