using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.ApiServer;

/// <summary>The in-process API server's REST protocol, driven by the real KubernetesClient.</summary>
public sealed class KubeApiServerTests
{
    [Fact]
    public async Task Get_WhenMissing_Returns404StatusObject()
    {
        await using var cluster = await Cluster.StartAsync();
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("nope", "default"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        Assert.Contains("\"kind\":\"Status\"", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"NotFound\"", e.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_WhenNameTaken_Returns409AlreadyExists()
    {
        await using var cluster = await Cluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default"));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Contains("AlreadyExists", e.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replace_WhenResourceVersionStale_Returns409Conflict()
    {
        await using var cluster = await Cluster.StartAsync();
        var created = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        created.Data["k"] = "v2";
        var updated = await cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "a", "default");
        Assert.NotEqual(created.Metadata.ResourceVersion, updated.Metadata.ResourceVersion);

        created.Data["k"] = "v3";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.ReplaceNamespacedConfigMapAsync(created, "a", "default"));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Equal("v2", (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default")).Data["k"]);
    }

    [Fact]
    public async Task Patch_WhenMergeAndJsonPatch_AppliesBoth()
    {
        await using var cluster = await Cluster.StartAsync();
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("a"), "default");
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"data":{"x":"1","k":null}}""", V1Patch.PatchType.MergePatch), "a", "default");
        await cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""[{"op":"add","path":"/data/y","value":"2"},{"op":"replace","path":"/data/x","value":"3"}]""", V1Patch.PatchType.JsonPatch), "a", "default");
        var map = await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("a", "default");
        Assert.Equal(new Dictionary<string, string> { ["x"] = "3", ["y"] = "2" }, map.Data);

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""[{"op":"remove","path":"/data/missing"}]""", V1Patch.PatchType.JsonPatch), "a", "default"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
    }

    [Fact]
    public async Task StatusSubresource_WhenWritten_ChangesOnlyStatusAndGenerationTracksSpec()
    {
        await using var cluster = await Cluster.StartAsync();
        var created = await cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", Scenario.Model(), CancellationToken.None);
        Assert.Equal(1, created.Metadata.Generation);
        Assert.Equal("softmax", created.Spec.Architecture.Gating);

        await cluster.Resources.PatchStatusAsync(MoeCloudApi.MoeModels, "default", "tiny", new MoeModelStatus { Phase = "Ready" }, CancellationToken.None);
        var afterStatus = await cluster.Resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, "default", "tiny", CancellationToken.None);
        Assert.Equal("Ready", afterStatus!.Status!.Phase);
        Assert.Equal(1, afterStatus.Metadata.Generation);

        afterStatus.Status = new MoeModelStatus { Phase = "Hacked" };
        afterStatus.Spec.Architecture.Layers = 5;
        var replaced = await cluster.Client.CustomObjects.ReplaceNamespacedCustomObjectAsync<MoeModel>(afterStatus, MoeCloudApi.Group, MoeCloudApi.Version, "default", "moemodels", "tiny");
        Assert.Equal("Ready", replaced.Status!.Phase);
        Assert.Equal(5, replaced.Spec.Architecture.Layers);
        Assert.Equal(2, replaced.Metadata.Generation);
    }

    [Fact]
    public async Task ScaleSubresource_WhenPatched_UpdatesSpecReplicas()
    {
        await using var cluster = await Cluster.StartAsync();
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", Scenario.Deployment("web", "tiny", 4), CancellationToken.None);
        await cluster.Client.CustomObjects.PatchNamespacedCustomObjectScaleAsync(new V1Patch("""{"spec":{"replicas":7}}""", V1Patch.PatchType.MergePatch),
            MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "web");
        var scale = await cluster.Client.CustomObjects.GetNamespacedCustomObjectScaleAsync<V1Scale>(MoeCloudApi.Group, MoeCloudApi.Version, "default", "moedeployments", "web");
        Assert.Equal(7, scale.Spec.Replicas);
        Assert.Equal(7, (await cluster.DeploymentAsync("web"))!.Spec.Replicas);
    }

    [Fact]
    public async Task Create_WhenCustomResourceViolatesSchema_Returns422WithEveryCause()
    {
        await using var cluster = await Cluster.StartAsync();
        var model = Scenario.Model();
        model.Spec.Architecture.Layers = 0;
        model.Spec.Dtype = "int3";
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", model, CancellationToken.None));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        Assert.Contains("spec.architecture.layers: Invalid value: 0", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains("spec.dtype: Unsupported value", e.Response.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_WhenTheGatewaysHomesOrSplitLinkAreNotKnown_Returns422NamingBoth()
    {
        await using var cluster = await Cluster.StartAsync();
        var d = Scenario.Deployment("web", "tiny", 4);
        d.Spec.Gateway.Homes = "sequence";
        d.Spec.Gateway.HomeSplitLink = "fast";

        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", d, CancellationToken.None));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        Assert.Contains("spec.gateway.homes: Unsupported value", e.Response.Content, StringComparison.Ordinal);
        Assert.Contains("spec.gateway.homeSplitLink: Invalid value: \"fast\": spec.gateway.homeSplitLink in body should match '^(nvlink|", StatusMessage(e), StringComparison.Ordinal);
        d.Spec.Gateway.Homes = "auto";
        d.Spec.Gateway.HomeSplitLink = "25,3.5";
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", d, CancellationToken.None);
    }

    [Fact]
    public async Task Create_WhenTheKeysSecretIsTooLongOrNotAName_Returns422WithTheLengthAndThePattern()
    {
        await using var cluster = await Cluster.StartAsync();
        var d = Scenario.Deployment("web", "tiny", 4);
        d.Spec.Gateway.KeysSecret = new string('a', 254);

        var tooLong = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", d, CancellationToken.None));
        d.Spec.Gateway.KeysSecret = "Keys_Secret";
        var notAName = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", d, CancellationToken.None));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooLong.Response.StatusCode);
        Assert.Contains("spec.gateway.keysSecret: Too long: may not be more than 253 bytes", tooLong.Response.Content, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, notAName.Response.StatusCode);
        Assert.Contains("spec.gateway.keysSecret: Invalid value: \"Keys_Secret\": spec.gateway.keysSecret in body should match '^[a-z0-9]", StatusMessage(notAName), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Delete_WhenOwnerDeleted_CascadesToOwnedObjects()
    {
        await using var cluster = await Cluster.StartAsync();
        var owner = await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("owner"), "default");
        var child = ConfigMap("child");
        child.Metadata.OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "ConfigMap", Name = "owner", Uid = owner.Metadata.Uid }];
        await cluster.Client.CoreV1.CreateNamespacedConfigMapAsync(child, "default");
        await cluster.Client.CoreV1.DeleteNamespacedConfigMapAsync("owner", "default");
        Assert.Empty((await cluster.Client.CoreV1.ListNamespacedConfigMapAsync("default")).Items);
    }

    private static V1ConfigMap ConfigMap(string name) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Data = new Dictionary<string, string> { ["k"] = "v" },
    };

    private static string StatusMessage(HttpOperationException e) =>
        System.Text.Json.JsonDocument.Parse(e.Response.Content).RootElement.GetProperty("message").GetString()!;
}
