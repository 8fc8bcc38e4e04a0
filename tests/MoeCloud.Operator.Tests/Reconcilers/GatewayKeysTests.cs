using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Contracts.Security;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.Reconcilers;

/// <summary>The gateway key Secrets the operator makes, against the in-process API server.</summary>
public sealed class GatewayKeysTests
{
    private const string AdminKey = "operator-admin-key";

    [Fact]
    public async Task Ensure_WhenKeysSecretUnset_CreatesOwnedSecretWithTheHashOfTheOneTimeClientKey()
    {
        await using var cluster = await Cluster.StartAsync();
        var d = await CreateAsync(cluster, Scenario.Deployment("web", "tiny", replicas: 2));

        await Keys(cluster).EnsureAsync(d, CancellationToken.None);

        var keys = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default");
        var client = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-client-key", "default");
        var key = Encoding.UTF8.GetString(client.Data[GatewayKeys.ClientKeyEntry]);
        var entry = Assert.Single(GatewayKeySecret.Read(Decode(keys), GatewayKeySecret.ClientPrefix, keys.Metadata.Annotations.AsReadOnly()));
        Assert.Equal(("default", ApiKeys.Hash(key)), (entry.Name, entry.Sha256));
        Assert.DoesNotContain(Decode(keys).Values, v => v == key);
        Assert.Equal(43, key.Length);
        Assert.Equal(d.Metadata.Uid, Assert.Single(keys.Metadata.OwnerReferences).Uid);
        Assert.Equal(d.Metadata.Uid, Assert.Single(client.Metadata.OwnerReferences).Uid);
        var admin = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-operator-key", "default");
        Assert.Equal(ApiKeys.Hash(AdminKey), Assert.Single(GatewayKeySecret.Read(Decode(admin), GatewayKeySecret.AdminPrefix)).Sha256);
        Assert.Equal(d.Metadata.Uid, Assert.Single(admin.Metadata.OwnerReferences).Uid);
    }

    [Fact]
    public async Task Ensure_WhenKeysSecretNamed_CreatesNoClientKeySecrets()
    {
        await using var cluster = await Cluster.StartAsync();
        var spec = Scenario.Deployment("web", "tiny", replicas: 2);
        spec.Spec.Gateway.KeysSecret = "my-keys";
        var d = await CreateAsync(cluster, spec);

        await Keys(cluster).EnsureAsync(d, CancellationToken.None);

        var names = (await cluster.Client.CoreV1.ListNamespacedSecretAsync("default")).Items.Select(s => s.Metadata.Name);
        Assert.Equal(["web-operator-key"], names);
        Assert.Equal("my-keys", Workloads.Gateway(d, Scenario.Model(), new OperatorOptions()).Spec.Template.Spec.Containers[0].EnvFrom[0].SecretRef.Name);
    }

    [Fact]
    public async Task Ensure_WhenReconciledAgain_NeverOverwritesTheKeysSecret()
    {
        await using var cluster = await Cluster.StartAsync();
        var d = await CreateAsync(cluster, Scenario.Deployment("web", "tiny", replicas: 2));
        var keys = Keys(cluster);
        await keys.EnsureAsync(d, CancellationToken.None);
        var first = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default");
        await cluster.Client.CoreV1.DeleteNamespacedSecretAsync("web-client-key", "default"); // the user took the key

        await keys.EnsureAsync(d, CancellationToken.None);

        var second = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default");
        Assert.Equal(first.Metadata.ResourceVersion, second.Metadata.ResourceVersion);
        Assert.Equal(Decode(first), Decode(second));
        Assert.DoesNotContain((await cluster.Client.CoreV1.ListNamespacedSecretAsync("default")).Items, s => s.Metadata.Name == "web-client-key");
    }

    [Fact]
    public async Task Ensure_WhenClientKeyWrittenButHashNot_StoresTheHashOfThatSameKey()
    {
        await using var cluster = await Cluster.StartAsync();
        var d = await CreateAsync(cluster, Scenario.Deployment("web", "tiny", replicas: 2));
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(GatewayKeys.ClientKeySecret(d, "earlier-key"), "default");

        await Keys(cluster).EnsureAsync(d, CancellationToken.None);

        var keys = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default");
        Assert.Equal(ApiKeys.Hash("earlier-key"), Assert.Single(GatewayKeySecret.Read(Decode(keys), GatewayKeySecret.ClientPrefix)).Sha256);
    }

    [Fact]
    public void Gateway_WhenOperatorHasAdminKey_ReadsClientAndOperatorKeySecretsAndRollsOnANewKey()
    {
        var d = Scenario.Deployment("web", "tiny", replicas: 2);
        var template = Workloads.Gateway(d, Scenario.Model(), new OperatorOptions { AdminApiKey = AdminKey }).Spec.Template;
        var other = Workloads.Gateway(d, Scenario.Model(), new OperatorOptions { AdminApiKey = "another" }).Spec.Template;

        Assert.Equal(["web-gateway-keys", "web-operator-key"], template.Spec.Containers[0].EnvFrom.Select(e => e.SecretRef.Name));
        Assert.All(template.Spec.Containers[0].EnvFrom, e => Assert.False(e.SecretRef.Optional));
        var fingerprint = template.Metadata.Annotations[GatewayWorkload.OperatorKeyAnnotation];
        Assert.NotEqual(fingerprint, other.Metadata.Annotations[GatewayWorkload.OperatorKeyAnnotation]);
        Assert.DoesNotContain(ApiKeys.Hash(AdminKey)[..8], fingerprint, StringComparison.Ordinal);
    }

    private static GatewayKeys Keys(Cluster cluster) =>
        new(cluster.Client, new ChildApplier(cluster.Client), Options.Create(new OperatorOptions { AdminApiKey = AdminKey }), new FakeTimeProvider(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero)));

    private static async Task<MoeDeployment> CreateAsync(Cluster cluster, MoeDeployment deployment)
    {
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);
        return (await cluster.DeploymentAsync(deployment.Metadata.Name))!;
    }

    private static Dictionary<string, string> Decode(V1Secret secret) =>
        secret.Data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);
}
