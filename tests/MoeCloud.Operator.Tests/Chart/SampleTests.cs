using k8s;
using System.Text.Json.Nodes;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.Chart;

/// <summary>The samples under operators/samples: the KEDA example targets the sample MoeDeployment, and the samples are accepted by the CRDs.</summary>
public sealed class SampleTests
{
    [Fact]
    public void KedaScaledObject_WhenParsed_ScalesTheSampleMoeDeploymentOnTheGatewayMetrics()
    {
        var scaledObject = Assert.Single(YamlDocuments.Load(File.ReadAllText(Path.Combine(RepoPaths.Samples, "keda", "scaledobject.yaml"))));
        var deployment = Assert.Single(YamlDocuments.Load(File.ReadAllText(Path.Combine(RepoPaths.Samples, "02-moedeployment.yaml"))));

        Assert.Equal(("keda.sh/v1alpha1", "ScaledObject"), ((string?)scaledObject["apiVersion"], (string?)scaledObject["kind"]));
        var target = scaledObject["spec"]!["scaleTargetRef"]!;
        Assert.Equal("moecloud.io/v1alpha1", (string?)target["apiVersion"]);
        Assert.Equal("MoeDeployment", (string?)target["kind"]);
        Assert.Equal((string?)deployment["metadata"]!["name"], (string?)target["name"]);
        var queries = scaledObject["spec"]!["triggers"]!.AsArray().Select(t => (string)t!["metadata"]!["query"]!).ToList();
        Assert.Contains(queries, q => q.Contains("moecloud_gateway_step_seconds_bucket", StringComparison.Ordinal));
        Assert.Contains(queries, q => q.Contains("moecloud_gateway_queue_depth", StringComparison.Ordinal));
        Assert.False((bool)deployment["spec"]!["autoscaling"]!["pods"]!["enabled"]!); // KEDA and the operator must not both scale it
    }

    [Fact]
    public async Task Samples_WhenCreatedOnTheApiServer_PassTheSchemaAndRules()
    {
        await using var cluster = await Cluster.StartAsync();
        foreach (var file in Directory.GetFiles(RepoPaths.Samples, "*.yaml").Order(StringComparer.Ordinal))
        {
            foreach (var manifest in YamlDocuments.Load(File.ReadAllText(file)))
            {
                var plural = (string)manifest["kind"]! switch
                {
                    "MoeModel" => "moemodels",
                    "MoeDeployment" => "moedeployments",
                    var kind => throw new InvalidOperationException($"{file}: unexpected kind {kind}"),
                };
                manifest["metadata"]!.AsObject()["namespace"] = "default";
                var created = await cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(manifest, "moecloud.io", "v1alpha1", "default", plural);
                Assert.NotNull(created);
            }
        }

        var stored = await cluster.Client.CustomObjects.GetNamespacedCustomObjectAsync("moecloud.io", "v1alpha1", "default", "moedeployments", "lite");
        var pods = JsonNode.Parse(((System.Text.Json.JsonElement)stored).GetRawText())!["spec"]!["autoscaling"]!["pods"]!;
        Assert.Equal(200, (double)pods["targetP99Ms"]!);
        Assert.Equal(0, (int)pods["standby"]!);
    }
}
