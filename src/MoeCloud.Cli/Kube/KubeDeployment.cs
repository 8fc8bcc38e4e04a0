using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Cli.Kube;

/// <summary>
/// A MoeDeployment as the operator sees it: the object, its model, and the ExpertPlacements it owns (the plan versions
/// the operator wrote), oldest first.
/// </summary>
/// <param name="Deployment">The MoeDeployment.</param>
/// <param name="Model">Its MoeModel; null when the model it names does not exist.</param>
/// <param name="Placements">The ExpertPlacements owned by the deployment, by version.</param>
internal sealed record KubeDeployment(MoeDeployment Deployment, MoeModel? Model, IReadOnlyList<ExpertPlacement> Placements)
{
    /// <summary>The newest plan version: what the operator migrates to, or plans its next step from once it is Complete.</summary>
    public ExpertPlacement? Latest => Placements.Count > 0 ? Placements[^1] : null;

    /// <summary>The plan in effect (status.currentPlanVersion); null before the first migration completes.</summary>
    public ExpertPlacement? InEffect => Deployment.Status?.CurrentPlanVersion is { } v ? Placements.LastOrDefault(p => p.Spec.Version == v) : null;

    /// <summary>The model; a clear error when the deployment names one that does not exist.</summary>
    public MoeModel RequireModel() => Model
        ?? throw new InvalidOperationException($"MoeDeployment \"{Deployment.Metadata.Name}\" names MoeModel \"{Deployment.Spec.ModelRef.Name}\", which does not exist in namespace \"{Deployment.Metadata.NamespaceProperty}\"");

    /// <summary>Reads deployment <paramref name="name"/>; a deployment that does not exist is a clear error.</summary>
    public static async Task<KubeDeployment> ReadAsync(KubeConnection connection, string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var resources = new CustomResourceClient(connection.Client);
        var d = await CallAsync(() => resources.GetAsync<MoeDeployment>(MoeCloudApi.MoeDeployments, connection.Namespace, name, cancellationToken))
            ?? throw new InvalidOperationException($"MoeDeployment \"{name}\" not found in namespace \"{connection.Namespace}\"");
        var model = await CallAsync(() => resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, connection.Namespace, d.Spec.ModelRef.Name, cancellationToken));

        // The reconciler's selection: labelled with the deployment and owned by this object (not a namesake deleted earlier).
        var placements = (await CallAsync(() => resources.ListAsync<ExpertPlacement>(MoeCloudApi.ExpertPlacements, connection.Namespace,
                $"{MoeCloudApi.DeploymentLabel}={name}", cancellationToken)))
            .Where(p => p.Metadata.OwnerReferences?.Any(o => o.Uid == d.Metadata.Uid) == true)
            .OrderBy(p => p.Spec.Version)
            .ToList();
        return new KubeDeployment(d, model, placements);
    }

    /// <summary>The silo pods of the deployment (status.selector), by name; empty before the operator reported a selector.</summary>
    public async Task<IReadOnlyList<V1Pod>> SiloPodsAsync(KubeConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (string.IsNullOrEmpty(Deployment.Status?.Selector))
        {
            return [];
        }

        var pods = await CallAsync(() => connection.Client.CoreV1.ListNamespacedPodAsync(connection.Namespace, labelSelector: Deployment.Status.Selector, cancellationToken: cancellationToken));
        return [.. pods.Items.OrderBy(p => p.Metadata.Name, StringComparer.Ordinal)];
    }

    /// <summary>The plan <paramref name="placement"/> stores; a stored plan that is not valid is a clear error.</summary>
    public static PlacementPlan PlanOf(ExpertPlacement placement)
    {
        ArgumentNullException.ThrowIfNull(placement);
        try
        {
            return PlanningInputs.StoredPlan(placement.Spec);
        }
        catch (PlanningException e)
        {
            throw new InvalidOperationException(e.Message, e);
        }
    }

    /// <summary>
    /// Runs one API call; an error status from the API server (forbidden, unauthorized, …) becomes a clear error naming
    /// the status, as moectl reports failures (exit 1).
    /// </summary>
    public static async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return await call();
        }
        catch (HttpOperationException e)
        {
            var status = e.Response.StatusCode;
            var detail = string.IsNullOrWhiteSpace(e.Response.Content) ? e.Message : e.Response.Content;
            throw new InvalidOperationException($"the Kubernetes API answered {(int)status} {status}: {detail}", e);
        }
    }

    /// <summary>Whether <paramref name="pod"/> reports the Ready condition True.</summary>
    public static bool IsReady(V1Pod pod) =>
        pod?.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>The StatefulSet ordinal of a silo pod (<c>&lt;name&gt;-silo-&lt;n&gt;</c>); null when the name has none.</summary>
    public static int? Ordinal(V1Pod pod)
    {
        var name = pod?.Metadata?.Name ?? "";
        var dash = name.LastIndexOf('-');
        return dash >= 0 && int.TryParse(name.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : null;
    }
}
