using MoeCloud.Operator.Tests.Support;
using Testcontainers.K3s;

namespace MoeCloud.Operator.Tests.Chart;

/// <summary>A fact that needs a Docker engine (for a real K3s cluster); skipped with a clear reason without one.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        var socket = Environment.GetEnvironmentVariable("DOCKER_HOST") ?? "unix:///var/run/docker.sock";
        var reachable = socket.StartsWith("unix://", StringComparison.Ordinal) ? File.Exists(socket["unix://".Length..]) : !string.IsNullOrEmpty(socket);
        if (!reachable)
        {
            Skip = $"No Docker engine is reachable ({socket}); the K3s test needs one to run a real Kubernetes cluster.";
        }
    }
}

/// <summary>The CRDs and samples against a real Kubernetes API server (K3s in Docker), where a Docker engine exists.</summary>
public sealed class K3sTests
{
    [DockerFact]
    public async Task Apply_WhenRealCluster_AcceptsCrdsAndRejectsCelViolations()
    {
        await using var k3s = new K3sBuilder("rancher/k3s:v1.33.4-k3s1").Build();
        await k3s.StartAsync();
        using var temp = new MoeCloud.Testing.TempDirectory();
        var kubeconfig = temp.Combine("kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, await k3s.GetKubeconfigAsync());
        var kubectl = KubeTools.Kubectl ?? throw new InvalidOperationException("kubectl " + KubeTools.Missing);

        var crds = await KubeTools.RunAsync(kubectl, ["--kubeconfig", kubeconfig, "apply", "-f", RepoPaths.Crds]);
        Assert.True(crds.ExitCode == 0, crds.Stderr);
        await KubeTools.RunAsync(kubectl, ["--kubeconfig", kubeconfig, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
        var samples = await KubeTools.RunAsync(kubectl, ["--kubeconfig", kubeconfig, "apply", "-f", RepoPaths.Samples]);
        Assert.True(samples.ExitCode == 0, samples.Stderr);

        var invalid = temp.Combine("invalid.yaml");
        await File.WriteAllTextAsync(invalid, """
            apiVersion: moecloud.io/v1alpha1
            kind: MoeModel
            metadata: {name: bad}
            spec:
              architecture: {layers: 2, experts: 4, topK: 8, hiddenSize: 8, moeIntermediateSize: 8}
              weights: {path: /m}
            """);
        var rejected = await KubeTools.RunAsync(kubectl, ["--kubeconfig", kubeconfig, "apply", "-f", invalid]);
        Assert.NotEqual(0, rejected.ExitCode);
        Assert.Contains("topK must not exceed experts", rejected.Stderr, StringComparison.Ordinal);
    }
}
