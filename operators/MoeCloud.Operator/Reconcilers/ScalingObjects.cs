using k8s.Models;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>The disruption and autoscaling objects a MoeDeployment owns: the silo PodDisruptionBudget. Pods and expert replicas are scaled by the operator itself (spec.autoscaling).</summary>
public static class ScalingObjects
{
    /// <summary>At most one silo pod down at a time for voluntary disruptions (node drains): experts move first.</summary>
    public static V1PodDisruptionBudget SiloDisruptionBudget(MoeDeployment d) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Workloads.Meta(d, Workloads.SiloName(d), "silo"),
        Spec = new V1PodDisruptionBudgetSpec
        {
            MaxUnavailable = 1,
            Selector = new V1LabelSelector { MatchLabels = Workloads.Selector(d, "silo") },
        },
    };
}
