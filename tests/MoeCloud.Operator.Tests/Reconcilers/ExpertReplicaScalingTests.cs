using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;

namespace MoeCloud.Operator.Tests.Reconcilers;

public sealed class ExpertReplicaScalingTests
{
    private static MoeDeployment Enabled(Action<ExpertAutoscalingPolicy> edit, int replicas = 4, int expertsPerPod = 0)
    {
        var d = Scenario.Deployment("web", "tiny", replicas);
        d.Spec.Resources.ExpertsPerPod = expertsPerPod;
        d.Spec.Autoscaling.Experts = new ExpertAutoscalingPolicy { Enabled = true, TargetLoadPerReplica = 0.2 };
        edit(d.Spec.Autoscaling.Experts);
        return d;
    }

    public static TheoryData<string, string> BadSpecs => new()
    {
        { "neither", "spec.autoscaling.experts: set exactly one of maxLoadImbalance and targetLoadPerReplica (got neither)" },
        { "both", "spec.autoscaling.experts: set exactly one of maxLoadImbalance and targetLoadPerReplica (got both)" },
        { "minMax", "spec.autoscaling.experts: minRedundant (5) must lie in 0..maxRedundant (4)" },
        { "capacity", "spec.autoscaling.experts.maxRedundant (8) exceeds the 0 extra replicas per layer that 4 pods x 4 replicas per layer can hold beside the model's 16 experts" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void Check_WhenExpertAutoscalingSpecInvalid_NamesTheProblem(string name, string message)
    {
        var d = name switch
        {
            "neither" => Enabled(e => e.TargetLoadPerReplica = null),
            "both" => Enabled(e => e.MaxLoadImbalance = 1.1),
            "minMax" => Enabled(e => (e.MinRedundant, e.MaxRedundant) = (5, 4)),
            _ => Enabled(e => e.MaxRedundant = 8, expertsPerPod: 4),
        };

        var problems = DeploymentValidation.Check(d, Scenario.Model());

        Assert.Contains(message, problems.Select(p => p.Message));
    }

    [Fact]
    public void Check_WhenExpertAutoscalingDisabled_IgnoresItsFields()
    {
        var d = Enabled(e => (e.Enabled, e.MaxLoadImbalance, e.MaxRedundant) = (false, 1.1, 99), expertsPerPod: 4);

        Assert.Empty(DeploymentValidation.Check(d, Scenario.Model()));
    }

    [Fact]
    public void Status_WhenPlanInEffectHasExtraReplicas_CountsThemAndKeepsTheLastChange()
    {
        var d = Enabled(_ => { });
        var changed = new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);
        d.Status = new MoeDeploymentStatus { Autoscaling = new AutoscalingStatus { Experts = new ExpertAutoscalingStatus { LastChangeTime = changed, LastChangeReason = "earlier" } } };
        var placement = new ExpertPlacement
        {
            Spec = new ExpertPlacementSpec
            {
                Layers =
                [
                    new LayerPlacement { Layer = 0, Pods = [0, 0, 1, 1], Redundant = [new RedundantReplica { Expert = 0, Pod = 1 }, new RedundantReplica { Expert = 0, Pod = 2 }] },
                    new LayerPlacement { Layer = 1, Pods = [0, 0, 1, 1], Redundant = [new RedundantReplica { Expert = 3, Pod = 0 }] },
                ],
            },
        };

        var status = ExpertReplicaScaling.Status(d, placement, change: null);

        Assert.NotNull(status);
        Assert.Equal(3, status.RedundantReplicas);
        Assert.Equal(3, status.MaxReplicasPerExpert);
        Assert.Equal(changed, status.LastChangeTime);
        Assert.Equal("earlier", status.LastChangeReason);
    }
}
