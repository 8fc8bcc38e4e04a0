using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.ApiServer;

/// <summary>The real kubectl against the in-process API server with the chart's CRDs, and with the real operator running.</summary>
public sealed class KubectlTests
{
    [KubectlFact]
    public async Task Apply_WhenSamplesAndOperator_GetScaleAndExplainWork()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var kubeconfig = cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"));

        var apply = await KubectlAsync(kubeconfig, "apply", "-f", RepoPaths.Samples);
        Assert.Contains("moemodel.moecloud.io/deepseek-v2-lite created", apply, StringComparison.Ordinal);
        Assert.Contains("moedeployment.moecloud.io/lite created", apply, StringComparison.Ordinal);
        await Eventually.WaitAsync(() => EndToEnd.Scenario.SiloAsync(cluster, "lite"), s => s.Spec.Replicas == 4, "lite silo");
        cluster.SiloReady("lite");
        await EndToEnd.Scenario.ReadyAtAsync(cluster, "lite", 1);

        var table = await KubectlAsync(kubeconfig, "get", "moedeployments");
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["NAME", "MODEL", "PODS", "READY", "PLAN", "REMOTE", "REDUNDANT", "STANDBY", "PHASE", "AGE"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["lite", "deepseek-v2-lite", "4", "4", "1"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[..5]);
        Assert.Contains("Ready", lines[1], StringComparison.Ordinal);

        Assert.Contains("scaled", await KubectlAsync(kubeconfig, "scale", "moedeployment/lite", "--replicas=6"), StringComparison.Ordinal);
        Assert.Equal("6", await KubectlAsync(kubeconfig, "get", "moedeployment", "lite", "-o", "jsonpath={.spec.replicas}"));
        await Eventually.WaitAsync(() => EndToEnd.Scenario.SiloAsync(cluster, "lite"), s => s.Spec.Replicas == 6, "lite silo at 6");

        var explain = await KubectlAsync(kubeconfig, "explain", "moedeployment.spec.placement.maxMoves");
        Assert.Contains("Move budget", explain, StringComparison.Ordinal);
        Assert.Contains("lite-v1", await KubectlAsync(kubeconfig, "get", "expertplacements"), StringComparison.Ordinal);
        var describe = await KubectlAsync(kubeconfig, "describe", "moedeployment", "lite");
        Assert.Contains("PlanCreated", describe, StringComparison.Ordinal);
        Assert.Contains("MigrationComplete", describe, StringComparison.Ordinal);
    }

    [KubectlFact]
    public async Task Apply_WhenUnknownFieldOrOutOfRange_FailsWithClearError()
    {
        await using var cluster = await Cluster.StartAsync();
        var kubeconfig = cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"));
        var manifest = cluster.Temp.Combine("bad.yaml");
        await File.WriteAllTextAsync(manifest, """
            apiVersion: moecloud.io/v1alpha1
            kind: MoeDeployment
            metadata: {name: bad}
            spec:
              modelRef: {name: m}
              replicas: 0
              placment: {maxMoves: 3}
            """);
        var (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", manifest]);
        Assert.NotEqual(0, code);
        Assert.Contains("unknown field \"spec.placment\"", stderr, StringComparison.Ordinal);
        Assert.Contains("spec.replicas: Invalid value: 0", stderr, StringComparison.Ordinal);
    }

    private static async Task<string> KubectlAsync(string kubeconfig, params string[] args)
    {
        var (code, stdout, stderr) = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, .. args]);
        Assert.True(code == 0, $"kubectl {string.Join(' ', args)} failed: {stderr}");
        return stdout;
    }
}
