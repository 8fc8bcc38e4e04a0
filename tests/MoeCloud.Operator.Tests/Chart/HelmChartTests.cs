using System.Text.Json.Nodes;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.Chart;

/// <summary>charts/moecloud with the real helm binary: lint, template, and the rendered objects.</summary>
public sealed class HelmChartTests
{
    [HelmFact]
    public async Task Lint_WhenStrict_Passes()
    {
        var (code, stdout, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["lint", "--strict", RepoPaths.Chart]);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("0 chart(s) failed", stdout, StringComparison.Ordinal);
    }

    [HelmFact]
    public async Task Template_WhenDefaults_RendersStructuralCrdsAndHardenedOperator()
    {
        var objects = await RenderAsync();

        var crds = objects.Where(o => (string?)o["kind"] == "CustomResourceDefinition").ToList();
        Assert.Equal(["expertplacements.moecloud.io", "moedeployments.moecloud.io", "moemodels.moecloud.io"],
            crds.Select(c => (string)c["metadata"]!["name"]!).Order(StringComparer.Ordinal));
        foreach (var crd in crds)
        {
            Assert.Empty(CrdSchemas.Problems(CrdSchemas.Schema(crd)));
            Assert.Equal("keep", (string?)crd["metadata"]!["annotations"]!["helm.sh/resource-policy"]);
        }

        var workloads = objects.Where(o => (string?)o["kind"] is "Deployment" or "StatefulSet" or "DaemonSet").ToList();
        Assert.NotEmpty(workloads);
        foreach (var workload in workloads)
        {
            var pod = workload["spec"]!["template"]!["spec"]!;
            Assert.True((bool)pod["securityContext"]!["runAsNonRoot"]!);
            foreach (var container in pod["containers"]!.AsArray())
            {
                Assert.NotNull(container!["resources"]?["requests"]?["cpu"]);
                Assert.NotNull(container["resources"]?["requests"]?["memory"]);
                Assert.True((bool)container["securityContext"]!["readOnlyRootFilesystem"]!);
                Assert.False((bool)container["securityContext"]!["allowPrivilegeEscalation"]!);
            }
        }

        var rules = objects.Single(o => (string?)o["kind"] == "ClusterRole")["rules"]!.AsArray();
        Assert.DoesNotContain(rules, r => r!["verbs"]!.AsArray().Any(v => (string?)v == "*"));
        Assert.Equal(["horizontalpodautoscalers"], rules.Where(r => r!["verbs"]!.AsArray().Any(v => (string?)v == "delete"))
            .SelectMany(r => r!["resources"]!.AsArray().Select(x => (string)x!)));
        Assert.DoesNotContain(rules, r => r!["resources"]!.AsArray().Any(v => (string?)v == "secrets"));
    }

    [HelmFact]
    public async Task Template_WhenCrdsDisabledAndMonitoringOn_OmitsCrdsAndAddsServiceMonitorAndPdb()
    {
        var objects = await RenderAsync("--set", "crds.enabled=false", "--set", "metrics.serviceMonitor.enabled=true",
            "--set", "podDisruptionBudget.enabled=true", "--set", "operator.replicas=2");

        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "CustomResourceDefinition");
        Assert.Single(objects, o => (string?)o["kind"] == "ServiceMonitor");
        Assert.Single(objects, o => (string?)o["kind"] == "PodDisruptionBudget");
        Assert.Equal(2, (int)objects.Single(o => (string?)o["kind"] == "Deployment")["spec"]!["replicas"]!);
    }

    [HelmFact]
    public async Task Template_WhenCrdsNotKept_HasNoKeepAnnotation()
    {
        var objects = await RenderAsync("--set", "crds.keep=false");
        Assert.All(objects.Where(o => (string?)o["kind"] == "CustomResourceDefinition"),
            crd => Assert.Null(crd["metadata"]!["annotations"]?["helm.sh/resource-policy"]));
    }

    [HelmFact]
    public async Task Template_WhenValueUnknownOrWrongType_FailsWithSchemaError()
    {
        var (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["template", "t", RepoPaths.Chart, "--set", "operator.replica=2"]);
        Assert.NotEqual(0, code);
        Assert.Contains("replica", stderr, StringComparison.Ordinal);

        (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["template", "t", RepoPaths.Chart, "--set", "operator.logLevel=Loud"]);
        Assert.NotEqual(0, code);
        Assert.Contains("logLevel", stderr, StringComparison.Ordinal);
    }

    private static async Task<List<JsonObject>> RenderAsync(params string[] extra)
    {
        var (code, stdout, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["template", "t", RepoPaths.Chart, "--namespace", "moecloud", .. extra]);
        Assert.True(code == 0, stderr);
        return YamlDocuments.Load(stdout);
    }
}
