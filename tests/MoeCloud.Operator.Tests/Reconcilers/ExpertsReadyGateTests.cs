using k8s;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.Reconcilers;

/// <summary>The readiness gate moecloud.io/experts-ready: which pods it opens on, and the operator opening it end to end.</summary>
public sealed class ExpertsReadyGateTests
{
    private static readonly MoeDeployment Web = Scenario.Deployment("web", "tiny", replicas: 2);

    [Theory]
    [InlineData("web-silo-0", 0)]
    [InlineData("web-silo-12", 12)]
    [InlineData("web-silo-", -1)]
    [InlineData("web-silo-x", -1)]
    [InlineData("web-silo-01", -1)]
    [InlineData("web-silo-+1", -1)]
    [InlineData("web-silo-1-a", -1)]
    [InlineData("other-silo-1", -1)]
    [InlineData("web-gateway-7d9f", -1)]
    public void Ordinal_WhenNamed_ParsesOnlyTheStatefulSetsNames(string name, int expected) =>
        Assert.Equal(expected, ExpertsReadyGate.Ordinal(Web, Pod(name, member: true)));

    [Fact]
    public void IsMember_WhenSiloStartedAndRunning_TrueOtherwiseFalse()
    {
        Assert.True(ExpertsReadyGate.IsMember(Pod("web-silo-0", member: true)));
        Assert.False(ExpertsReadyGate.IsMember(Pod("web-silo-0", member: false)));

        var pending = Pod("web-silo-0", member: true);
        pending.Status.Phase = "Pending";
        Assert.False(ExpertsReadyGate.IsMember(pending));

        var deleting = Pod("web-silo-0", member: true);
        deleting.Metadata.DeletionTimestamp = DateTime.UtcNow;
        Assert.False(ExpertsReadyGate.IsMember(deleting));

        var otherContainer = Pod("web-silo-0", member: true);
        otherContainer.Status.ContainerStatuses[0].Name = "sidecar";
        Assert.False(ExpertsReadyGate.IsMember(otherContainer));

        var notStarted = Pod("web-silo-0", member: true);
        notStarted.Status.ContainerStatuses[0].Started = false;
        Assert.False(ExpertsReadyGate.IsMember(notStarted));
    }

    [Fact]
    public void Due_WhenNoPlanInEffect_OpensNothing()
    {
        var pods = new[] { Pod("web-silo-0", member: true), Pod("web-silo-1", member: true) };
        Assert.Empty(ExpertsReadyGate.Due(Web, pods, planInEffect: null));
        Assert.Equal(2, ExpertsReadyGate.Members(Web, pods));
    }

    [Fact]
    public void Due_WhenPlanInEffect_OpensMembersInPlanAndBeyondButNotOthers()
    {
        var open = Pod("web-silo-1", member: true);
        open.Status.Conditions.Add(new V1PodCondition { Type = Workloads.ExpertsReadyGate, Status = "True" });
        var closedFalse = Pod("web-silo-4", member: true);
        closedFalse.Status.Conditions.Add(new V1PodCondition { Type = Workloads.ExpertsReadyGate, Status = "False" });
        var pods = new[]
        {
            Pod("web-silo-3", member: true),
            Pod("web-silo-0", member: true),
            open,
            Pod("web-silo-2", member: false),
            closedFalse,
            Pod("stranger-silo-0", member: true),
        };

        var due = ExpertsReadyGate.Due(Web, pods, Plan(version: 3, pods: 3));

        Assert.Equal(
            [("web-silo-0", ExpertsReadyGate.PlanInEffect), ("web-silo-3", ExpertsReadyGate.NoExpertsYet), ("web-silo-4", ExpertsReadyGate.NoExpertsYet)],
            due.Select(g => (g.Pod, g.Reason)));
        Assert.Contains("plan v3", due[0].Message, StringComparison.Ordinal);
        Assert.Equal(4, ExpertsReadyGate.Members(Web, pods));
    }

    [Fact]
    public async Task Operator_WhenSiloPodsJoin_PublishesOnMembersAndOpensGateOnlyOncePlanIsInEffect()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        cluster.Admin.Hold = true;
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("gated", "tiny", replicas: 2));
        var silo = await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "gated"), s => s.Spec.Replicas == 2, "silo StatefulSet");

        // Play the StatefulSet controller and the kubelet: two pods whose silos started, none Ready (the gate is closed),
        // and the StatefulSet's readyReplicas stays unset. The plan must still be published: members count, not Ready pods.
        await CreatePodAsync(cluster, silo, 0);
        await CreatePodAsync(cluster, silo, 1);
        await Eventually.WaitAsync(async () => (await cluster.PlacementsAsync("gated")).FirstOrDefault(), p => p.Status?.Phase == "Migrating", "plan v1 published and migrating");
        Assert.Equal(1, Assert.Single(cluster.Admin.Published("gated")).Version);
        foreach (var pod in (await PodsAsync(cluster, "gated"))!)
        {
            Assert.DoesNotContain(pod.Status.Conditions, c => c.Type == Workloads.ExpertsReadyGate);
        }

        // The rollout completes: both pods' gates open, and the kubelet's own conditions are kept.
        cluster.Admin.Hold = false;
        await Scenario.ReadyAtAsync(cluster, "gated", 1);
        var gated = await Eventually.WaitAsync(() => PodsAsync(cluster, "gated"), pods => pods.All(ExpertsReadyGate.IsOpen), "gates open on pods 0 and 1");
        Assert.All(gated, pod =>
        {
            var condition = pod.Status.Conditions.Single(c => c.Type == Workloads.ExpertsReadyGate);
            Assert.Equal(ExpertsReadyGate.PlanInEffect, condition.Reason);
            Assert.NotNull(condition.LastTransitionTime);
            Assert.Contains(pod.Status.Conditions, c => c.Type == "PodScheduled" && c.Status == "True");
        });

        // Scale out to 3 while every migration is held: the new pod holds no experts yet, and its gate opens as soon as
        // its silo is a member, before the scale-out plan is in effect.
        cluster.Admin.Hold = true;
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(
            new V1Patch("{\"spec\":{\"replicas\":3}}", V1Patch.PatchType.MergePatch), MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "gated");
        silo = await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "gated"), s => s.Spec.Replicas == 3, "silo at 3");
        await CreatePodAsync(cluster, silo, 2);
        var third = await Eventually.WaitAsync(async () => (await PodsAsync(cluster, "gated"))!.Single(p => p.Metadata.Name == "gated-silo-2"),
            ExpertsReadyGate.IsOpen, "gate open on the new pod");
        Assert.Equal(ExpertsReadyGate.NoExpertsYet, third.Status.Conditions.Single(c => c.Type == Workloads.ExpertsReadyGate).Reason);
        Assert.Equal(1, (await cluster.DeploymentAsync("gated"))!.Status!.CurrentPlanVersion);
        var placements = await cluster.PlacementsAsync("gated");
        Assert.Equal(2, placements.Count);
        Assert.NotEqual("Complete", placements[1].Status?.Phase);

        cluster.Admin.Hold = false;
        await Scenario.ReadyAtAsync(cluster, "gated", 2);
    }

    private static ExpertPlacement Plan(int version, int pods) => new()
    {
        Metadata = new V1ObjectMeta { Name = $"web-v{version}", NamespaceProperty = "default" },
        Spec = new ExpertPlacementSpec { DeploymentName = "web", Version = version, Pods = pods },
    };

    private static V1Pod Pod(string name, bool member, IDictionary<string, string>? labels = null) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Labels = labels },
        Spec = new V1PodSpec
        {
            Containers = [new V1Container { Name = ExpertsReadyGate.SiloContainer, Image = "silo" }],
            ReadinessGates = [new V1PodReadinessGate { ConditionType = Workloads.ExpertsReadyGate }],
        },
        Status = new V1PodStatus
        {
            Phase = "Running",
            Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "True" }],
            ContainerStatuses =
            [
                new V1ContainerStatus { Name = ExpertsReadyGate.SiloContainer, Image = "silo", ImageID = "", Ready = false, RestartCount = 0, Started = member },
            ],
        },
    };

    private static Task<V1Pod> CreatePodAsync(Cluster cluster, V1StatefulSet silo, int ordinal) =>
        cluster.Client.CoreV1.CreateNamespacedPodAsync(
            Pod($"{silo.Metadata.Name}-{ordinal}", member: true, new Dictionary<string, string>(silo.Spec.Template.Metadata.Labels)), "default");

    private static async Task<IList<V1Pod>?> PodsAsync(Cluster cluster, string deployment) =>
        (await cluster.Client.CoreV1.ListNamespacedPodAsync("default", labelSelector: $"{MoeCloudApi.DeploymentLabel}={deployment}")).Items;
}
