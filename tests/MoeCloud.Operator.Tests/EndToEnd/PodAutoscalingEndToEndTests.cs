using k8s;
using k8s.Models;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>
/// The pod autoscaler (spec.autoscaling.pods) and standby pods: the real operator against the in-process API server,
/// with the fake admin API serving the gateway's serving signals.
/// </summary>
public sealed class PodAutoscalingEndToEndTests
{
    [Fact]
    public async Task PodAutoscaler_WhenP99AboveTarget_GrowsReplicasThroughTheScaleSubresourceWithEventAndStatus()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await StartOperatorAsync(cluster);
        cluster.Admin.Signals = Signals(p99: 250, placedPods: 2);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Autoscaled("web", replicas: 2, new PodAutoscalingPolicy
        {
            Enabled = true, MinReplicas = 1, MaxReplicas = 4, TargetP99Ms = 100, ScaleUpStabilizationSeconds = 0,
        }));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 2, "silo at 2");
        cluster.SiloReady("web");

        // 250 ms on 2 pods against 100 ms: ceil(2 x 2.5) = 5, clamped to maxReplicas 4.
        var scaled = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Spec.Replicas == 4, "spec.replicas at 4");
        var status = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => d.Status?.Autoscaling?.Pods?.LastScaleReason is not null, "status");
        var pods = status.Status!.Autoscaling!.Pods!;
        Assert.Equal(4, pods.DesiredReplicas);
        Assert.Equal(250, pods.ObservedP99Ms);
        Assert.NotNull(pods.LastScaleTime);
        Assert.Contains("p99 step latency 250 ms (target 100) on 2 pods: 2 -> 4 pods", pods.LastScaleReason, StringComparison.Ordinal);
        Assert.Equal("tiny", cluster.Admin.SignalsModel);
        Assert.Contains(cluster.Api.RequestLog, r => r.StartsWith("PUT /apis/moecloud.io/v1alpha1/namespaces/default/moedeployments/web/scale ", StringComparison.Ordinal));
        var events = await cluster.Client.CoreV1.ListNamespacedEventAsync("default");
        var scaledOut = Assert.Single(events.Items, e => e.Reason == "ScaledOut");
        Assert.Equal("Normal", scaledOut.Type);
        Assert.Equal(scaled.Metadata.Name, scaledOut.InvolvedObject.Name);
        Assert.StartsWith("spec.replicas 2 -> 4: ", scaledOut.Message, StringComparison.Ordinal);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "web"), s => s.Spec.Replicas == 4, "silo at 4");
    }

    [Fact]
    public async Task PodAutoscaler_WhenP99LowWithinTheDownWindow_HoldsUntilTheWindowIsShortened()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await StartOperatorAsync(cluster);
        cluster.Admin.Signals = Signals(p99: 10, placedPods: 3);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Autoscaled("quiet", replicas: 3, new PodAutoscalingPolicy
        {
            Enabled = true, MinReplicas = 1, MaxReplicas = 4, TargetP99Ms = 100, ScaleDownStabilizationSeconds = 3600,
        }));
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "quiet"), s => s.Spec.Replicas == 3, "silo at 3");
        cluster.SiloReady("quiet");
        await Scenario.ReadyAtAsync(cluster, "quiet", 1);

        // Decisions read 10 ms (a recommendation of 1 pod) and hold: the hour-long down-window has not been observed.
        var held = await Eventually.WaitAsync(() => cluster.DeploymentAsync("quiet"), d => d.Status?.Autoscaling?.Pods?.ObservedP99Ms == 10, "a decision on 10 ms");
        Assert.Equal(3, held.Spec.Replicas);
        Assert.Equal(3, held.Status!.Autoscaling!.Pods!.DesiredReplicas);
        Assert.Null(held.Status.Autoscaling.Pods.LastScaleTime);

        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"autoscaling":{"pods":{"scaleDownStabilizationSeconds":0}}}}""", V1Patch.PatchType.MergePatch),
            MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "quiet");
        var scaledIn = await Eventually.WaitAsync(() => cluster.DeploymentAsync("quiet"), d => d.Spec.Replicas == 1, "scaled in to 1");
        Assert.Equal(1, scaledIn.Spec.Replicas);
        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"), l => l.Items.Any(e => e.Reason == "ScaledIn"), "ScaledIn event");
        Assert.StartsWith("spec.replicas 3 -> 1: p99 step latency 10 ms (target 100) on 3 pods for 0 s", events.Items.Single(e => e.Reason == "ScaledIn").Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Standby_WhenSet_RunsReplicasPlusStandbyAndAScaleOutIsOnlyAPlanSwitch()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await StartOperatorAsync(cluster);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Autoscaled("warm", replicas: 2, new PodAutoscalingPolicy
        {
            Enabled = true, MinReplicas = 1, MaxReplicas = 4, TargetQueueDepth = 4, ScaleUpStabilizationSeconds = 0, Standby = 2,
        }));

        // Two placed pods and two standby pods: the StatefulSet runs four, the plan places experts on ordinals 0 and 1.
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "warm"), s => s.Spec.Replicas == 4, "silo at 2 + 2");
        cluster.SiloReady("warm");
        await Scenario.ReadyAtAsync(cluster, "warm", 1);
        var initial = Assert.Single(await cluster.PlacementsAsync("warm"));
        Assert.Equal(2, initial.Spec.Pods);
        Assert.All(initial.Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 1)));
        await Eventually.WaitAsync(() => cluster.DeploymentAsync("warm"), d => d.Status?.Autoscaling?.Pods?.StandbyReplicas == 2, "two standby pods");

        // 12 requests in flight on 2 pods against 4 per pod: ceil(2 x 1.5) = 3. The third pod is a standby pod that is
        // already a member, so the scale-out plan comes without waiting for a new pod; the StatefulSet grows to 3 + 2.
        cluster.Admin.Signals = Signals(p99: 50, placedPods: 2, queueDepth: 12);
        await Eventually.WaitAsync(() => cluster.DeploymentAsync("warm"), d => d.Spec.Replicas == 3, "spec.replicas at 3");
        var switched = await Scenario.ReadyAtAsync(cluster, "warm", 2);
        var scaleOut = (await cluster.PlacementsAsync("warm"))[1];
        Assert.Equal(("ScaleOut", 3), (scaleOut.Spec.Reason, scaleOut.Spec.Pods));
        Assert.All(scaleOut.Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 2)));
        Assert.Equal(3, switched.Spec.Replicas);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "warm"), s => s.Spec.Replicas == 5, "silo at 3 + 2");
        cluster.SiloReady("warm");
        await Eventually.WaitAsync(() => cluster.DeploymentAsync("warm"), d => d.Status?.Autoscaling?.Pods?.StandbyReplicas == 2, "standby restored");
    }

    [Fact]
    public async Task ScaleIn_WithStandby_ExpertsLeaveFirstAndTheLeavingPodBecomesTheStandby()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await StartOperatorAsync(cluster);
        var deployment = Scenario.Deployment("shrink", "tiny", replicas: 3, maxMoves: 64); // one plan evicts pod 2
        deployment.Spec.Autoscaling.Pods.Standby = 1;
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "shrink"), s => s.Spec.Replicas == 4, "silo at 3 + 1");
        cluster.SiloReady("shrink");
        await Scenario.ReadyAtAsync(cluster, "shrink", 1);

        // 3 -> 2: the scale-in plan moves the experts off pod 2 while the StatefulSet keeps pods 0..2; pod 3, a standby
        // pod without experts, goes at once. Pod 2 then stays as the standby pod.
        cluster.Admin.Hold = true;
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(
            new V1Patch("""{"spec":{"replicas":2}}""", V1Patch.PatchType.MergePatch), MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "shrink");
        var eviction = await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("shrink")).ElementAtOrDefault(1), p => p is not null, "scale-in plan");
        Assert.Equal(("ScaleIn", 2), (eviction.Spec.Reason, eviction.Spec.Pods));
        Assert.All(eviction.Spec.Layers, l => Assert.All(l.Pods, p => Assert.InRange(p, 0, 1)));
        Assert.Equal(3, (await Scenario.SiloAsync(cluster, "shrink"))!.Spec.Replicas);
        cluster.Admin.Hold = false;
        await Scenario.ReadyAtAsync(cluster, "shrink", 2);
        Assert.Equal(3, (await Scenario.SiloAsync(cluster, "shrink"))!.Spec.Replicas);
    }

    private static Task<OperatorHost> StartOperatorAsync(Cluster cluster) =>
        OperatorHost.StartAsync(cluster.Api, cluster.Admin, configure: s => s["Operator:AutoscalePollSeconds"] = "0.05");

    private static MoeDeployment Autoscaled(string name, int replicas, PodAutoscalingPolicy pods)
    {
        var d = Scenario.Deployment(name, "tiny", replicas);
        d.Spec.Autoscaling.Pods = pods;
        return d;
    }

    private static ServingSignals Signals(double p99, int placedPods, int queueDepth = 1) =>
        new("tiny", DateTimeOffset.UnixEpoch, 10, Requests: 500, Failed: 0, TokensPerSecond: 50, queueDepth, InFlightTokens: queueDepth * 8,
            StepP50Ms: p99 / 2, StepP95Ms: p99 * 0.9, p99, placedPods, HealthyPods: placedPods);
}
