using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// What a deployment's planning starts from, read and checked: the profile ConfigMap, the cluster's live profile and
/// the plan stored in the newest ExpertPlacement. A malformed input becomes a <see cref="PlanningException"/> whose
/// reason the deployment's Degraded condition carries.
/// </summary>
public static class PlanningInputs
{
    /// <summary>The profile ConfigMap's profile.json ({"load": [layers][experts]}), or null when none is configured.</summary>
    public static async Task<WorkloadProfile?> ConfigMapProfileAsync(CustomResourceClient resources, MoeDeployment d, MoeModel model, CancellationToken cancellationToken)
    {
        var name = d.Spec.Placement.ProfileConfigMap;
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        V1ConfigMap map;
        try
        {
            map = await resources.Kubernetes.CoreV1.ReadNamespacedConfigMapAsync(name, d.Metadata.NamespaceProperty, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new PlanningException("ProfileNotFound", $"spec.placement.profileConfigMap: ConfigMap \"{name}\" does not exist");
        }

        if (map.Data?.TryGetValue("profile.json", out var json) != true)
        {
            throw new PlanningException("ProfileInvalid", $"ConfigMap \"{name}\" has no key profile.json");
        }

        try
        {
            var parsed = JsonSerializer.Deserialize<ProfileDocument>(json!) ?? throw new JsonException("empty document");
            var a = model.Spec.Architecture;
            return PlanningProfiles.FromLoads($"configmap:{name}", parsed.Load ?? throw new JsonException("no \"load\" array"), a.Layers, a.Experts, a.TopK);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new PlanningException("ProfileInvalid", $"ConfigMap \"{name}\" profile.json: {e.Message}");
        }
    }

    /// <summary>The library profile of the cluster's live profile; null when there is none or its shape is not the plan's.</summary>
    public static WorkloadProfile? FromLive(LiveProfile? live, PlacementPlan plan)
    {
        try
        {
            return live is null ? null : PlanningProfiles.FromLive(live, plan.Layers, plan.Experts);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new PlanningException("LiveProfileInvalid", $"GET admin/v1/profile: {e.Message}");
        }
    }

    /// <summary>The plan an ExpertPlacement stores; a stored plan that is not valid is a <see cref="PlanningException"/>.</summary>
    public static PlacementPlan StoredPlan(ExpertPlacementSpec spec)
    {
        try
        {
            return ExpertPlacementMapping.ToPlan(spec);
        }
        catch (ArgumentException e)
        {
            throw new PlanningException("PlacementInvalid", $"ExpertPlacement v{spec.Version} is not a valid plan: {e.Message}");
        }
    }

    private sealed record ProfileDocument([property: System.Text.Json.Serialization.JsonPropertyName("load")] double[][]? Load);
}
