using System.Text.Json;
using k8s;
using k8s.Models;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Operator.Tests.KubectlPlugin;

/// <summary>
/// <c>kubectl moe</c> (moectl's kube commands) run by the real kubectl as a plugin found on the PATH, against the
/// in-process API server: with the plan the real operator wrote, and with objects written by hand.
/// </summary>
public sealed class KubectlMoeTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [KubectlFact]
    public async Task PluginList_WhenInstalled_ShowsKubectlMoeAndRunsIt()
    {
        await using var cluster = await Cluster.StartAsync();
        using var plugin = await KubectlMoe.InstallAsync(cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "plugin-test"));

        var (code, stdout, stderr) = await plugin.RunAsync(KubeTools.Kubectl!, ["plugin", "list"]);
        Assert.True(code == 0, stderr);
        Assert.Contains(Path.Combine(plugin.PluginDirectory, "kubectl-moe"), stdout, StringComparison.Ordinal);

        var help = await plugin.MoeAsync("status", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("moectl kube status <deployment> [options]", help.Stdout, StringComparison.Ordinal);
    }

    [KubectlFact]
    public async Task Status_WhenOperatorPutPlanInEffect_ShowsPlanPodsAndMigration()
    {
        await using var cluster = await Cluster.StartAsync();
        using var plugin = await KubectlMoe.InstallAsync(cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "plugin-test"));
        await using (await StartLiteAsync(cluster, plugin))
        {
            var (code, stdout, stderr) = await plugin.MoeAsync("status", "lite");
            output.WriteLine(stdout);
            Assert.True(code == 0, stderr);
            Assert.Contains("plan in effect:  v1", stdout, StringComparison.Ordinal);
            Assert.Contains("pods:            4 ready of 4 (spec.replicas)", stdout, StringComparison.Ordinal);
            Assert.Contains("migration:       none in progress", stdout, StringComparison.Ordinal);

            var json = JsonDocument.Parse((await plugin.MoeAsync("status", "lite", "--json")).Stdout).RootElement;
            Assert.Equal(1, json.GetProperty("currentPlanVersion").GetInt32());
            Assert.Equal("Ready", json.GetProperty("phase").GetString());
            var pods = json.GetProperty("pods").EnumerateArray().ToList();
            Assert.Equal(["lite-silo-0", "lite-silo-1", "lite-silo-2", "lite-silo-3"], pods.Select(p => p.GetProperty("name").GetString()));
            Assert.Equal(26 * 64, pods.Sum(p => p.GetProperty("replicas").GetInt32()));
            var plan = Assert.Single(json.GetProperty("plans").EnumerateArray());
            Assert.Equal(MigrationProgress.Complete, plan.GetProperty("phase").GetString());
        }
    }

    [KubectlFact]
    public async Task Plan_WhenWhatIfThenApply_WritesNothingUntilApplyAndOperatorWritesThePredictedPlan()
    {
        await using var cluster = await Cluster.StartAsync();
        using var plugin = await KubectlMoe.InstallAsync(cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "plugin-test"));
        await (await StartLiteAsync(cluster, plugin)).DisposeAsync();
        var before = await SnapshotAsync(cluster);

        var (code, stdout, stderr) = await plugin.MoeAsync("plan", "lite", "--replicas", "6");
        Assert.True(code == 0, stderr);
        Assert.Contains("what-if: lite on 6 pods, from plan v1 on 4 pods (ScaleOut)", stdout, StringComparison.Ordinal);
        Assert.Contains("replicas created: 16", stdout, StringComparison.Ordinal);
        Assert.Contains("nothing written", stdout, StringComparison.Ordinal);
        var whatIf = JsonDocument.Parse((await plugin.MoeAsync("plan", "lite", "--replicas", "6", "--json")).Stdout).RootElement.GetProperty("plan");
        Assert.Equal(16, whatIf.GetProperty("changes").GetArrayLength());
        Assert.Equal(before, await SnapshotAsync(cluster));

        var apply = await plugin.MoeAsync("plan", "lite", "--replicas", "6", "--apply");
        Assert.True(apply.ExitCode == 0, apply.Stderr);
        Assert.Contains("spec.replicas 4 -> 6", apply.Stdout, StringComparison.Ordinal);
        Assert.Equal(6, (await cluster.DeploymentAsync("lite"))!.Spec.Replicas);
        Assert.Single(await cluster.PlacementsAsync("lite"));

        // The operator acts on spec.replicas and writes plan v2: the plan the what-if predicted.
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "lite"), s => s.Spec.Replicas == 6, "lite silo at 6");
        cluster.SiloReady("lite");
        await Scenario.ReadyAtAsync(cluster, "lite", 2);
        var placements = await cluster.PlacementsAsync("lite");
        var predicted = ExpertPlacementMapping.ToAssignment(placements[0].Spec);
        foreach (var change in whatIf.GetProperty("changes").EnumerateArray())
        {
            predicted[change.GetProperty("layer").GetInt32()][change.GetProperty("expert").GetInt32()] = [.. change.GetProperty("to").EnumerateArray().Select(p => p.GetInt32())];
        }

        Assert.Equal(Flatten(predicted), Flatten(ExpertPlacementMapping.ToAssignment(placements[1].Spec)));
        Assert.Equal(whatIf.GetProperty("moves").GetInt32(), placements[1].Spec.Metrics!.Moves);
    }

    [KubectlFact]
    public async Task Experts_WhenProfileConfigMap_ListsHottestWithReplicas()
    {
        await using var cluster = await Cluster.StartAsync();
        using var plugin = await KubectlMoe.InstallAsync(cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "plugin-test"));
        await CreateHandMadeAsync(cluster);

        var (code, stdout, stderr) = await plugin.MoeAsync("experts", "hot", "--top", "2", "--json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("configmap:hot-profile", json.GetProperty("load").GetString());
        var experts = json.GetProperty("experts").EnumerateArray().ToList();
        Assert.Equal([(2, 5, 2), (1, 3, 1)], experts.Select(e => (e.GetProperty("layer").GetInt32(), e.GetProperty("expert").GetInt32(), e.GetProperty("replicas").GetInt32())));
        Assert.Equal([1, 3], experts[0].GetProperty("pods").EnumerateArray().Select(p => p.GetInt32()));

        var table = await plugin.MoeAsync("experts", "hot", "--top", "1");
        Assert.Contains("plan v1 of hot; load: configmap:hot-profile", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("1,3", table.Stdout, StringComparison.Ordinal);
    }

    [KubectlFact]
    public async Task Commands_WhenBadInput_ExitWithClearErrors()
    {
        await using var cluster = await Cluster.StartAsync();
        using var plugin = await KubectlMoe.InstallAsync(cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "plugin-test"));
        await CreateHandMadeAsync(cluster);

        var unknown = await plugin.MoeAsync("status", "nope");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("MoeDeployment \"nope\" not found in namespace \"default\"", unknown.Stderr, StringComparison.Ordinal);

        var zero = await plugin.MoeAsync("plan", "hot", "--replicas", "0");
        Assert.Equal(2, zero.ExitCode);
        Assert.Contains("option '--replicas' needs a whole number in [1, 1024], got '0'", zero.Stderr, StringComparison.Ordinal);
        var word = await plugin.MoeAsync("plan", "hot", "--replicas", "six");
        Assert.Equal(2, word.ExitCode);
        Assert.Contains("got 'six'", word.Stderr, StringComparison.Ordinal);

        var none = await plugin.MoeWithoutKubeconfigAsync("status", "hot");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("No kubeconfig at", none.Stderr, StringComparison.Ordinal);
        Assert.Contains("pass --kubeconfig <file> or set KUBECONFIG", none.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The samples applied with kubectl and the real operator until plan v1 is in effect on 4 pods; the caller disposes the operator.</summary>
    private static async Task<OperatorHost> StartLiteAsync(Cluster cluster, KubectlMoe plugin)
    {
        var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var (code, _, stderr) = await plugin.RunAsync(KubeTools.Kubectl!, ["apply", "-f", RepoPaths.Samples]);
        Assert.True(code == 0, stderr);
        await Eventually.WaitAsync(() => Scenario.SiloAsync(cluster, "lite"), s => s.Spec.Replicas == 4, "lite silo");
        cluster.SiloReady("lite");
        await Scenario.ReadyAtAsync(cluster, "lite", 1);
        return op;
    }

    /// <summary>
    /// Deployment "hot" (4 layers x 16 experts on 4 pods) as the operator would leave it, written by hand: plan v1 in effect,
    /// contiguous, with a second replica of layer 2's expert 5 on pod 3; a profile ConfigMap where that expert is the hottest.
    /// </summary>
    private static async Task CreateHandMadeAsync(Cluster cluster)
    {
        var d = Scenario.Deployment("hot", "tiny", replicas: 4);
        d.Spec.Placement.ProfileConfigMap = "hot-profile";
        await Scenario.CreateAsync(cluster, Scenario.Model(), d);
        var created = (await cluster.DeploymentAsync("hot"))!;
        var load = Enumerable.Range(0, 4).Select(l => Enumerable.Range(0, 16).Select(e => (l, e) switch { (2, 5) => 100.0, (1, 3) => 50.0, _ => 1.0 }).ToArray()).ToArray();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta { Name = "hot-profile" },
            Data = new Dictionary<string, string> { ["profile.json"] = JsonSerializer.Serialize(new { load }) },
        }, "default");
        var assignment = Enumerable.Range(0, 4).Select(l => Enumerable.Range(0, 16).Select(e => l == 2 && e == 5 ? new[] { 1, 3 } : [e / 4]).ToArray()).ToArray();
        var plan = PlacementPlan.WithoutCapacities(new PlanMetadata { Version = 1, Solver = "contiguous" }, 4, assignment);
        var placement = new ExpertPlacement
        {
            Metadata = new V1ObjectMeta
            {
                Name = "hot-v1",
                Labels = new Dictionary<string, string> { [MoeCloudApi.DeploymentLabel] = "hot" },
                OwnerReferences = [CustomResourceClient.OwnerReference(created)],
            },
            Spec = new ExpertPlacementSpec { DeploymentName = "hot", Version = 1, Pods = 4, Solver = "contiguous", Reason = "Initial", Layers = ExpertPlacementMapping.ToLayers(plan) },
        };
        await cluster.Resources.CreateAsync(MoeCloudApi.ExpertPlacements, "default", placement, CancellationToken.None);
        await cluster.Resources.PatchStatusAsync(MoeCloudApi.ExpertPlacements, "default", "hot-v1",
            new ExpertPlacementStatus { Phase = MigrationProgress.Complete, MovedReplicas = 0, TotalMoves = 0 }, CancellationToken.None);
        await cluster.Resources.PatchStatusAsync(MoeCloudApi.MoeDeployments, "default", "hot",
            new MoeDeploymentStatus { Phase = "Ready", Replicas = 4, ReadyReplicas = 4, CurrentPlanVersion = 1, TargetPlanVersion = 1, RemoteFraction = 0.4, LoadImbalance = 1.2 }, CancellationToken.None);
    }

    /// <summary>Every MoeDeployment and ExpertPlacement as JSON (metadata, spec and status), to see that nothing was written.</summary>
    private static async Task<string> SnapshotAsync(Cluster cluster)
    {
        var d = await cluster.DeploymentAsync("lite");
        var placements = await cluster.PlacementsAsync("lite");
        return KubernetesJson.Serialize(d) + "\n" + string.Join("\n", placements.Select(p => KubernetesJson.Serialize(p)));
    }

    private static List<string> Flatten(int[][][] assignment) =>
        [.. assignment.SelectMany((layer, l) => layer.Select((pods, e) => $"{l}/{e}:{string.Join(",", pods)}"))];
}
