using System.Net;
using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Cli.Hosting;
using MoeCloud.Contracts.Security;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>
/// How a gateway learns of its keys, with the real operator and <c>moectl kube keys</c> against the in-process API
/// server: the keys Secret's fingerprint in the gateway's pod template (a change rolls the pods, which read the Secret
/// at start), and a condition and Warning event while a Secret the deployment names is missing.
/// </summary>
public sealed class GatewayKeysEndToEndTests
{
    [Fact]
    public async Task Reconcile_WhenTheNamedKeysSecretIsMissing_ReportsAFalseConditionAndAWarningEvent_AndClearsOnceItExists()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        var deployment = Scenario.Deployment("web", "tiny", replicas: 2);
        deployment.Spec.Gateway.KeysSecret = "my-keys";
        await Scenario.CreateAsync(cluster, Scenario.Model(), deployment);

        var missing = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => KeysCondition(d) is { Status: "False" }, "GatewayKeysReady False");
        var condition = KeysCondition(missing)!;
        Assert.Equal(Conditions.KeysSecretNotFound, condition.Reason);
        Assert.Contains("'my-keys'", condition.Message, StringComparison.Ordinal);
        Assert.Contains("namespace 'default'", condition.Message, StringComparison.Ordinal);
        var events = await Eventually.WaitAsync(() => cluster.Client.CoreV1.ListNamespacedEventAsync("default"),
            l => l.Items.Any(e => e.InvolvedObject.Name == "web" && e.Reason == Conditions.KeysSecretNotFound), "Warning event on web");
        var warning = events.Items.First(e => e.InvolvedObject.Name == "web" && e.Reason == Conditions.KeysSecretNotFound);
        Assert.Equal("Warning", warning.Type);
        Assert.Contains("my-keys", warning.Message, StringComparison.Ordinal);
        Assert.False((await GatewayAsync(cluster))!.Spec.Template.Metadata.Annotations?.ContainsKey(GatewayKeySecret.HashAnnotation) ?? false);

        var data = ClientKeys(("app", ApiKeys.Hash("app-key")));
        await cluster.Client.CoreV1.CreateNamespacedSecretAsync(Secret("my-keys", data), "default");

        var found = await Eventually.WaitAsync(() => cluster.DeploymentAsync("web"), d => KeysCondition(d) is { Status: "True" }, "GatewayKeysReady True");
        Assert.Equal(Conditions.KeysSecretFound, KeysCondition(found)!.Reason);
        await Eventually.WaitAsync(() => GatewayAsync(cluster), g => TemplateKeysHash(g) == GatewayKeySecret.Fingerprint(data), "gateway template with the Secret's fingerprint");
        // One event for one absence: the reconciles while it was missing did not repeat it.
        var all = await cluster.Client.CoreV1.ListNamespacedEventAsync("default");
        Assert.Single(all.Items, e => e.InvolvedObject.Name == "web" && e.Reason == Conditions.KeysSecretNotFound);
    }

    [Fact]
    public async Task KeysRotate_WhenTheOperatorReconcilesNext_TheGatewayTemplateKeepsTheNewFingerprintWithoutASecondRollout_AndOnlyTheNewKeyIsAccepted()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 2));
        var before = await Eventually.WaitAsync(() => GatewayAsync(cluster), g => TemplateKeysHash(g) is not null, "gateway with a keys fingerprint");
        var oldKey = Encoding.UTF8.GetString((await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-client-key", "default")).Data[GatewayKeys.ClientKeyEntry]);
        Assert.Equal(GatewayKeySecret.Fingerprint(await SecretDataAsync(cluster, "web-gateway-keys")), TemplateKeysHash(before));

        var (code, stdout, stderr) = await MoectlAsync("kube", "keys", "rotate", "web", "--kubeconfig", cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"), token: "test"));

        Assert.True(code == 0, stderr);
        var newKey = stdout.Trim();
        var data = await SecretDataAsync(cluster, "web-gateway-keys");
        var fingerprint = GatewayKeySecret.Fingerprint(data);
        Assert.NotEqual(TemplateKeysHash(before), fingerprint);
        var patched = (await GatewayAsync(cluster))!;
        Assert.Equal(fingerprint, TemplateKeysHash(patched)); // moectl rolled the pods at once

        // The operator's first write after the rotation carries a new spec hash (its desired template changed with the
        // Secret). It may come before the read above (moectl's patch of the Deployment wakes the operator too), so wait
        // for a hash other than the one from before the rotation, not for one other than the patched object's.
        await NudgeAsync(cluster);
        var written = await Eventually.WaitAsync(() => GatewayAsync(cluster),
            g => g.Metadata.Annotations[ChildApplier.HashAnnotation] != before.Metadata.Annotations[ChildApplier.HashAnnotation], "the operator's first write of the gateway after the rotation");

        Assert.Equal(fingerprint, TemplateKeysHash(written));
        Assert.Equal(KubernetesJson.Serialize(patched.Spec.Template), KubernetesJson.Serialize(written.Spec.Template)); // no second rollout
        var gateway = Authenticator(data); // what the restarted pods read through envFrom
        gateway.AuthorizeClient(newKey);
        Assert.Throws<GatewayException>(() => gateway.AuthorizeClient(oldKey));
    }

    [Fact]
    public async Task Reconcile_WhenTheKeysSecretIsEditedWithoutMoectl_RollsTheGatewayWithTheNewFingerprint()
    {
        await using var cluster = await Cluster.StartAsync();
        await using var op = await OperatorHost.StartAsync(cluster.Api, cluster.Admin);
        await Scenario.CreateAsync(cluster, Scenario.Model(), Scenario.Deployment("web", "tiny", replicas: 2));
        var before = await Eventually.WaitAsync(() => GatewayAsync(cluster), g => TemplateKeysHash(g) is not null, "gateway with a keys fingerprint");
        var secret = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default");
        var data = await SecretDataAsync(cluster, "web-gateway-keys");
        GatewayKeySecret.Write(data, GatewayKeySecret.ClientPrefix, "1", "edited", ApiKeys.Hash("edited-key"));
        secret.Data = data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value), StringComparer.Ordinal);
        await cluster.Client.CoreV1.ReplaceNamespacedSecretAsync(secret, "web-gateway-keys", "default");

        await NudgeAsync(cluster);
        var after = await Eventually.WaitAsync(() => GatewayAsync(cluster), g => TemplateKeysHash(g) != TemplateKeysHash(before), "gateway rolled on the edited Secret");

        Assert.Equal(GatewayKeySecret.Fingerprint(data), TemplateKeysHash(after));
    }

    private static V1Condition? KeysCondition(MoeCloud.Operator.Entities.MoeDeployment d) =>
        d.Status?.Conditions.FirstOrDefault(c => c.Type == Conditions.GatewayKeysReady);

    private static string? TemplateKeysHash(V1Deployment gateway) =>
        gateway.Spec.Template.Metadata.Annotations?.TryGetValue(GatewayKeySecret.HashAnnotation, out var hash) == true ? hash : null;

    private static async Task<V1Deployment?> GatewayAsync(Cluster cluster)
    {
        try
        {
            return await cluster.Client.AppsV1.ReadNamespacedDeploymentAsync("web-gateway", "default");
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>Wakes the operator's informer with an annotation on the MoeDeployment: a reconcile follows.</summary>
    private static Task NudgeAsync(Cluster cluster) =>
        cluster.Client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(System.Text.Json.JsonSerializer.Serialize(new { metadata = new { annotations = new Dictionary<string, string> { ["test.moecloud.io/nudge"] = Guid.NewGuid().ToString("N") } } }), V1Patch.PatchType.MergePatch),
            "moecloud.io", "v1alpha1", "default", "moedeployments", "web");

    private static Dictionary<string, string> ClientKeys(params (string Name, string Sha256)[] keys)
    {
        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Length; i++)
        {
            GatewayKeySecret.Write(data, GatewayKeySecret.ClientPrefix, i.ToString(System.Globalization.CultureInfo.InvariantCulture), keys[i].Name, keys[i].Sha256);
        }

        return data;
    }

    private static V1Secret Secret(string name, Dictionary<string, string> data) => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Data = data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value), StringComparer.Ordinal),
    };

    private static async Task<Dictionary<string, string>> SecretDataAsync(Cluster cluster, string name) =>
        (await cluster.Client.CoreV1.ReadNamespacedSecretAsync(name, "default")).Data
            .ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);


    private static async Task<(int Code, string Out, string Error)> MoectlAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Moectl.CreateDefault().RunAsync(args, new CliConsole(output, error));
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The gateway's key check, configured from the Secret's entries as its environment (envFrom).</summary>
    private static ApiKeyAuthenticator Authenticator(Dictionary<string, string> data)
    {
        var options = new GatewayOptions();
        new ConfigurationBuilder().AddInMemoryCollection(data.Select(p => KeyValuePair.Create(p.Key.Replace("__", ":", StringComparison.Ordinal), (string?)p.Value)))
            .Build().GetSection(GatewayOptions.Section).Bind(options);
        return new ApiKeyAuthenticator(Options.Create(options), new FakeTimeProvider());
    }
}
