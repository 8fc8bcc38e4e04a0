using k8s.Models;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>The disruption and autoscaling objects a MoeDeployment owns: the silo PodDisruptionBudget and the optional HPA.</summary>
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

    /// <summary>An autoscaling/v2 HPA on the MoeDeployment's scale subresource (CPU utilisation of the silo pods).</summary>
    public static V2HorizontalPodAutoscaler Autoscaler(MoeDeployment d) => new()
    {
        ApiVersion = "autoscaling/v2",
        Kind = "HorizontalPodAutoscaler",
        Metadata = Workloads.Meta(d, d.Metadata.Name, "autoscaler"),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = MoeCloudApi.ApiVersion, Kind = "MoeDeployment", Name = d.Metadata.Name },
            MinReplicas = d.Spec.Autoscaling.MinReplicas,
            MaxReplicas = d.Spec.Autoscaling.MaxReplicas,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Resource",
                    Resource = new V2ResourceMetricSource
                    {
                        Name = "cpu",
                        Target = new V2MetricTarget { Type = "Utilization", AverageUtilization = d.Spec.Autoscaling.TargetCpuUtilization },
                    },
                },
            ],
        },
    };
}
