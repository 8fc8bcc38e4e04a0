using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Contracts.Security;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Kube;

/// <summary><c>moectl kube keys</c> against the in-process API server, checked with the gateway's own key check.</summary>
public sealed class KubeKeysCommandsTests : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();
    private KubeApiServer _api = null!;
    private IKubernetes _client = null!;
    private string _kubeconfig = null!;

    public async Task InitializeAsync()
    {
        _api = await KubeApiServer.StartAsync();
        _api.InstallCrds(Directory.GetFiles(Path.Combine(Root(), "charts", "moecloud", "files", "crds"), "*.yaml").Order(StringComparer.Ordinal));
        _client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = _api.Url.ToString() });
        _kubeconfig = Path.Combine(_temp.Path, "kubeconfig");
        _api.WriteKubeconfig(_kubeconfig, token: "test");
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new Dictionary<string, object>
        {
            ["apiVersion"] = "moecloud.io/v1alpha1",
            ["kind"] = "MoeDeployment",
            ["metadata"] = new Dictionary<string, object> { ["name"] = "web" },
            ["spec"] = new Dictionary<string, object> { ["modelRef"] = new Dictionary<string, object> { ["name"] = "tiny" }, ["replicas"] = 2 },
        }, "moecloud.io", "v1alpha1", "default", "moedeployments");
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _api.DisposeAsync();
        _temp.Dispose();
    }

    [Fact]
    public async Task Create_WhenSecretExists_PrintsAKeyTheGatewayAcceptsAndStoresOnlyItsHash()
    {
        await CreateSecretAsync(new() { ["MoeCloud__Gateway__ApiKeys__0__Name"] = "default", ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeys.Hash("first") });

        var (code, stdout, stderr) = await Keys("create", "web", "--name", "app");

        Assert.True(code == 0, stderr);
        var key = stdout.Trim();
        var data = await SecretDataAsync();
        Assert.DoesNotContain(data.Values, v => v.Contains(key, StringComparison.Ordinal));
        // Beside it, what the operator writes into <name>-operator-key (an entry indexed by name, not number).
        GatewayKeySecret.Write(data, GatewayKeySecret.AdminPrefix, "operator", "operator", ApiKeys.Hash("admin"));
        var gateway = Authenticator(data);
        gateway.AuthorizeClient(key);
        gateway.AuthorizeClient("first");
        gateway.AuthorizeAdmin("admin");
        Assert.Equal("app", data["MoeCloud__Gateway__ApiKeys__1__Name"]);
    }

    [Fact]
    public async Task List_WhenKeysExist_ShowsNamesAndHashPrefixesButNeverAKey()
    {
        await CreateSecretAsync(new() { ["MoeCloud__Gateway__ApiKeys__0__Name"] = "default", ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeys.Hash("first") });
        var (_, created, _) = await Keys("create", "web", "--name", "app");

        var (code, stdout, stderr) = await Keys("list", "web");

        Assert.True(code == 0, stderr);
        Assert.DoesNotContain(created.Trim(), stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKeys.Hash("first"), stdout, StringComparison.Ordinal);
        Assert.Contains(ApiKeys.Hash("first")[..12], stdout, StringComparison.Ordinal);
        Assert.Equal(["NAME", "default", "app"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));
    }

    [Fact]
    public async Task Rotate_WhenNamed_ReplacesThatHashOnly()
    {
        await CreateSecretAsync(new()
        {
            ["MoeCloud__Gateway__ApiKeys__0__Name"] = "default", ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeys.Hash("old"),
            ["MoeCloud__Gateway__ApiKeys__1__Name"] = "other", ["MoeCloud__Gateway__ApiKeys__1__Sha256"] = ApiKeys.Hash("kept"),
        });

        var (code, stdout, stderr) = await Keys("rotate", "web", "--name", "default");

        Assert.True(code == 0, stderr);
        var data = await SecretDataAsync();
        Assert.DoesNotContain(ApiKeys.Hash("old"), data.Values);
        var gateway = Authenticator(data);
        gateway.AuthorizeClient(stdout.Trim());
        gateway.AuthorizeClient("kept");
        Assert.Throws<GatewayException>(() => gateway.AuthorizeClient("old"));
    }

    [Fact]
    public async Task Keys_WhenDeploymentUnknown_FailsNamingIt()
    {
        var (code, _, stderr) = await Keys("list", "nope");

        Assert.Equal(1, code);
        Assert.Contains("No MoeDeployment 'nope' in namespace 'default'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_WhenSecretMissing_FailsNamingTheSecret()
    {
        var (code, _, stderr) = await Keys("create", "web");

        Assert.Equal(1, code);
        Assert.Contains("has no Secret 'web-gateway-keys'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_WhenSecretMalformed_FailsAndChangesNothing()
    {
        await CreateSecretAsync(new() { ["MoeCloud__Gateway__ApiKeys__0__Name"] = "default", ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = "not-a-hash" });

        var (code, _, stderr) = await Keys("rotate", "web");

        Assert.Equal(1, code);
        Assert.Contains("Secret 'web-gateway-keys' is not a gateway keys Secret", stderr, StringComparison.Ordinal);
        Assert.Equal("not-a-hash", (await SecretDataAsync())["MoeCloud__Gateway__ApiKeys__0__Sha256"]);
    }

    [Fact]
    public async Task Keys_WhenTheKubeconfigUserHasNoCredentials_SendsAnonymousRequests()
    {
        await CreateSecretAsync(new() { ["MoeCloud__Gateway__ApiKeys__0__Name"] = "default", ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeys.Hash("first") });
        var anonymous = Path.Combine(_temp.Path, "anonymous");
        await File.WriteAllTextAsync(anonymous, $$"""
            apiVersion: v1
            kind: Config
            clusters: [{ name: local, cluster: { server: "{{_api.Url}}" } }]
            users: [{ name: nobody, user: {} }]
            contexts: [{ name: local, context: { cluster: local, user: nobody, namespace: default } }]
            current-context: local
            """);

        var (code, stdout, stderr) = await MoectlRunner.Run("kube", "keys", "list", "web", "--kubeconfig", anonymous);

        Assert.True(code == 0, stderr);
        Assert.Equal(["NAME", "default"], stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]));
    }

    [Fact]
    public async Task Keys_WhenTheKubeconfigIsMalformed_FailsSayingItCannotBeUsed()
    {
        var broken = Path.Combine(_temp.Path, "broken");
        await File.WriteAllTextAsync(broken, "apiVersion: v1\nclusters: [{ name: local, cluster: { server: \"http://127.0.0.1:1\" }\n");

        var (code, _, stderr) = await MoectlRunner.Run("kube", "keys", "list", "web", "--kubeconfig", broken);

        Assert.Equal(1, code);
        Assert.Contains($"The kubeconfig '{broken}' cannot be used", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_WhenTheContextIsMissing_FailsNamingIt()
    {
        var (code, _, stderr) = await MoectlRunner.Run("kube", "keys", "list", "web", "--kubeconfig", _kubeconfig, "--context", "nowhere");

        Assert.Equal(1, code);
        Assert.Contains($"The kubeconfig '{_kubeconfig}' cannot be used", stderr, StringComparison.Ordinal);
        Assert.Contains("nowhere", stderr, StringComparison.Ordinal);
    }

    private Task<(int Code, string Out, string Error)> Keys(params string[] args) =>
        MoectlRunner.Run(["kube", "keys", .. args, "--kubeconfig", _kubeconfig, .. args[0] == "list" ? Array.Empty<string>() : ["--no-restart"]]);

    private Task CreateSecretAsync(Dictionary<string, string> data) =>
        _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "web-gateway-keys" },
            Data = data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value)),
        }, "default");

    private async Task<Dictionary<string, string>> SecretDataAsync() =>
        (await _client.CoreV1.ReadNamespacedSecretAsync("web-gateway-keys", "default")).Data
            .ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);

    /// <summary>The gateway's key check, configured from the Secret's entries as its environment (envFrom).</summary>
    private static ApiKeyAuthenticator Authenticator(Dictionary<string, string> data)
    {
        var options = new GatewayOptions();
        new ConfigurationBuilder().AddInMemoryCollection(data.Select(p => KeyValuePair.Create(p.Key.Replace("__", ":", StringComparison.Ordinal), (string?)p.Value)))
            .Build().GetSection(GatewayOptions.Section).Bind(options);
        return new ApiKeyAuthenticator(Options.Create(options), new FakeTimeProvider());
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeCloud.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no MoeCloud.sln above {AppContext.BaseDirectory}");
    }
}
