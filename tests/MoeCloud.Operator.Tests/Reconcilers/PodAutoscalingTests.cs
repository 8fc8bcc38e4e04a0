using k8s.Models;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Operator.Tests.Reconcilers;

public sealed class PodAutoscalingTests
{
    private static readonly DateTimeOffset At = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Combine_WhenSeveralGateways_SumsCountsAndTakesTheLargestP99AndPlacedPods()
    {
        var sample = PodAutoscaling.Combine(
            [Signals(requests: 10, p99: 80, queue: 3, placed: 2), Signals(requests: 5, p99: 120, queue: 4, placed: 3), Signals(requests: 0, p99: null, queue: 0, placed: 3)], At);

        Assert.Equal(new ServingSample(At, 15, 120, 7, 3), sample);
    }

    [Fact]
    public void Combine_WhenNoGatewayAnswered_IsNull()
    {
        Assert.Null(PodAutoscaling.Combine([], At));
    }

    [Fact]
    public void WithStandby_WhenMembersBeyondThePlan_CountsThemAndKeepsTheDecision()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);
        d.Spec.Autoscaling.Pods.Standby = 2;
        var plan = new ExpertPlacement { Metadata = new V1ObjectMeta { Name = "d-v1" }, Spec = new ExpertPlacementSpec { Version = 1, Pods = 2 } };

        var status = PodAutoscaling.WithStandby(d, new PodAutoscalingStatus { DesiredReplicas = 2, LastScaleReason = "why" }, members: 4, plan);

        Assert.Equal((2, 2, "why"), (status!.StandbyReplicas, status.DesiredReplicas, status.LastScaleReason));
    }

    [Fact]
    public void WithStandby_WhenAutoscalingOffAndNoStandby_IsNull()
    {
        var d = Scenario.Deployment("d", "tiny", replicas: 2);

        Assert.Null(PodAutoscaling.WithStandby(d, null, members: 2, null));
    }

    private static ServingSignals Signals(long requests, double? p99, int queue, int placed) =>
        new("tiny", At, 10, requests, 0, 1, queue, queue * 4, p99, p99, p99, placed, placed);
}
