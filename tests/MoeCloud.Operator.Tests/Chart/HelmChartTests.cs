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
        Assert.Equal(["expertplacements", "horizontalpodautoscalers"], rules.Where(r => r!["verbs"]!.AsArray().Any(v => (string?)v == "delete"))
            .SelectMany(r => r!["resources"]!.AsArray().Select(x => (string)x!)));
        // Secrets: the gateway key Secrets it owns, read and written by name; never listed or watched.
        Assert.Equal(["create", "get", "update"], Verbs(rules, "", "secrets"));

        // The experts-ready gate: list silo pods, patch their status; the pod autoscaler lists gateway pods; nothing else on pods.
        Assert.Equal(["list"], Verbs(rules, "", "pods"));
        Assert.Equal(["patch"], Verbs(rules, "", "pods/status"));

        // The pod autoscaler changes spec.replicas through the scale subresource only.
        Assert.Equal(["get", "update"], Verbs(rules, "moecloud.io", "moedeployments/scale"));
    }

    [HelmFact]
    public async Task Template_WhenDefaults_RunsHardenedRedisAndPointsOperatorAtIt()
    {
        var objects = await RenderAsync();

        var redis = Named(objects, "Deployment", "t-moecloud-redis");
        var pod = redis["spec"]!["template"]!["spec"]!;
        Assert.Equal(999, (int)pod["securityContext"]!["runAsUser"]!);
        var container = pod["containers"]!.AsArray().Single()!;
        Assert.StartsWith("redis:", (string)container["image"]!, StringComparison.Ordinal);
        Assert.Equal("/data", (string?)container["volumeMounts"]!.AsArray().Single()!["mountPath"]);
        Assert.NotNull(pod["volumes"]!.AsArray().Single()!["emptyDir"]);
        Assert.Equal("Recreate", (string?)redis["spec"]!["strategy"]!["type"]);
        var service = Named(objects, "Service", "t-moecloud-redis");
        Assert.Equal(6379, (int)service["spec"]!["ports"]!.AsArray().Single()!["port"]!);
        Assert.True(JsonNode.DeepEquals(service["spec"]!["selector"], redis["spec"]!["selector"]!["matchLabels"]));

        // Only MoeCloud's pods (the label the operator puts on silos and gateways) from any namespace reach it.
        var policy = Named(objects, "NetworkPolicy", "t-moecloud-redis");
        var from = policy["spec"]!["ingress"]!.AsArray().Single()!["from"]!.AsArray().Single()!;
        Assert.Equal("moecloud", (string?)from["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]);
        Assert.NotNull(from["namespaceSelector"]);

        var env = OperatorEnv(objects);
        Assert.Equal("t-moecloud-redis.moecloud.svc:6379", (string?)env["Operator__MembershipRedis"]!["value"]);
        Assert.Equal("http://{name}-gateway-admin.{namespace}.svc:8080/", (string?)env["Operator__AdminEndpointTemplate"]!["value"]);
        Assert.Equal("t-moecloud-admin-key", (string?)env["Operator__AdminApiKey"]!["valueFrom"]!["secretKeyRef"]!["name"]);
        Assert.Equal("false", (string?)env["Operator__SiloDashboard"]!["value"]);
    }

    [HelmFact]
    public async Task Template_WhenNoAdminKeyGiven_RendersAGeneratedAdminKeySecretTheOperatorReads()
    {
        var first = await RenderAsync();
        var second = await RenderAsync();

        var secret = Named(first, "Secret", "t-moecloud-admin-key");
        var key = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)secret["data"]!["admin-api-key"]!));
        Assert.Matches("^[A-Za-z0-9]{48}$", key);
        // No cluster to look the earlier Secret up in: helm template makes a new key at every render.
        Assert.NotEqual((string?)secret["data"]!["admin-api-key"], (string?)Named(second, "Secret", "t-moecloud-admin-key")["data"]!["admin-api-key"]);
        var reference = OperatorEnv(first)["Operator__AdminApiKey"]!["valueFrom"]!["secretKeyRef"]!;
        Assert.Equal(("t-moecloud-admin-key", "admin-api-key"), ((string?)reference["name"], (string?)reference["key"]));
    }

    [HelmFact]
    public async Task Template_WhenAdminKeyValueGiven_StoresItAsGiven()
    {
        var objects = await RenderAsync("--set", "operator.adminApiKey.value=my-admin-key", "--set", "operator.adminApiKey.key=k");

        var secret = Named(objects, "Secret", "t-moecloud-admin-key");
        Assert.Equal("my-admin-key", System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)secret["data"]!["k"]!)));
        Assert.Equal("k", (string?)OperatorEnv(objects)["Operator__AdminApiKey"]!["valueFrom"]!["secretKeyRef"]!["key"]);
    }

    [HelmFact]
    public async Task Template_WhenSiloDashboardOn_TellsTheOperator()
    {
        var objects = await RenderAsync("--set", "workloads.siloDashboard=true");

        Assert.Equal("true", (string?)OperatorEnv(objects)["Operator__SiloDashboard"]!["value"]);
        await AssertTemplateFailsAsync("workloads.siloDashboard=maybe", "siloDashboard");
    }

    [HelmFact]
    public async Task Template_WhenExternalRedisAndAdminKeySecret_UsesThemAndRunsNoRedis()
    {
        var objects = await RenderAsync("--set", "redis.enabled=false", "--set", "redis.external.connectionString=redis.example:6380",
            "--set", "operator.adminApiKey.existingSecret=moecloud-admin", "--set", "operator.adminApiKey.key=k");

        Assert.DoesNotContain(objects, o => ((string?)o["metadata"]!["name"])?.EndsWith("-redis", StringComparison.Ordinal) == true);
        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "NetworkPolicy");
        var env = OperatorEnv(objects);
        Assert.Equal("redis.example:6380", (string?)env["Operator__MembershipRedis"]!["value"]);
        var secret = env["Operator__AdminApiKey"]!["valueFrom"]!["secretKeyRef"]!;
        Assert.Equal("moecloud-admin", (string?)secret["name"]);
        Assert.Equal("k", (string?)secret["key"]);
        Assert.Null(env["Operator__AdminApiKey"]!["value"]);
        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "Secret");
    }

    [HelmFact]
    public async Task Template_WhenRedisNetworkPolicyOff_OmitsOnlyThePolicy()
    {
        var objects = await RenderAsync("--set", "redis.networkPolicy.enabled=false");
        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "NetworkPolicy");
        Named(objects, "Deployment", "t-moecloud-redis");
    }

    [HelmFact]
    public async Task Template_WhenRedisPersistenceOn_MountsAClaimInsteadOfAnEmptyDir()
    {
        var objects = await RenderAsync("--set", "redis.persistence.enabled=true", "--set", "redis.persistence.size=2Gi", "--set", "redis.persistence.storageClass=fast");

        var claim = Named(objects, "PersistentVolumeClaim", "t-moecloud-redis");
        Assert.Equal("2Gi", (string?)claim["spec"]!["resources"]!["requests"]!["storage"]);
        Assert.Equal("fast", (string?)claim["spec"]!["storageClassName"]);
        var volume = Named(objects, "Deployment", "t-moecloud-redis")["spec"]!["template"]!["spec"]!["volumes"]!.AsArray().Single()!;
        Assert.Equal("t-moecloud-redis", (string?)volume["persistentVolumeClaim"]!["claimName"]);
        Assert.Null(volume["emptyDir"]);
        await AssertTemplateFailsAsync("redis.persistence.size=lots", "size");
    }

    [HelmFact]
    public async Task Template_WhenRedisDisabledWithoutConnectionStringOrBadRedisValues_FailsWithSchemaError()
    {
        await AssertTemplateFailsAsync("redis.enabled=false", "connectionString");
        await AssertTemplateFailsAsync("redis.resources.requests.cpu=null", "cpu");
        await AssertTemplateFailsAsync("redis.password=x", "password");
        await AssertTemplateFailsAsync("operator.adminApiKey.key=", "key");
    }

    [HelmFact]
    public async Task Template_WhenCrdsDisabledAndMonitoringOn_OmitsCrdsAndAddsServiceMonitorAndPdb()
    {
        var objects = await RenderAsync("--set", "crds.enabled=false", "--set", "metrics.serviceMonitor.enabled=true",
            "--set", "podDisruptionBudget.enabled=true", "--set", "operator.replicas=2");

        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "CustomResourceDefinition");
        Assert.Single(objects, o => (string?)o["kind"] == "ServiceMonitor");
        Assert.Single(objects, o => (string?)o["kind"] == "PodDisruptionBudget");
        Assert.Equal(2, (int)Named(objects, "Deployment", "t-moecloud-operator")["spec"]!["replicas"]!);
    }

    [HelmFact]
    public async Task Template_WhenDefaults_ShipsNoDashboardNorAlerts()
    {
        var objects = await RenderAsync();

        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "PrometheusRule");
        Assert.DoesNotContain(objects, o => (string?)o["kind"] == "ConfigMap" && ((string?)o["metadata"]!["name"])!.EndsWith("-dashboard", StringComparison.Ordinal));
    }

    [HelmFact]
    public async Task Template_WhenDashboardAndAlertsOn_ShipsTheFilesUnchanged()
    {
        var objects = await RenderAsync("--set", "metrics.dashboard.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
            "--set", "metrics.prometheusRule.labels.release=kube-prometheus");

        var dashboard = Named(objects, "ConfigMap", "t-moecloud-dashboard");
        Assert.Equal("1", (string?)dashboard["metadata"]!["labels"]!["grafana_dashboard"]);
        var shipped = JsonNode.Parse((string)dashboard["data"]!["moecloud.json"]!);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Chart, "files", "dashboards", "moecloud.json"))), shipped));
        var rule = Named(objects, "PrometheusRule", "t-moecloud");
        Assert.Equal("kube-prometheus", (string?)rule["metadata"]!["labels"]!["release"]);
        var file = YamlDocuments.Load(File.ReadAllText(Path.Combine(RepoPaths.Chart, "files", "alerts", "moecloud.rules.yaml"))).Single();
        Assert.True(JsonNode.DeepEquals(file, rule["spec"]));
        Assert.Equal(["MoeCloudExpertLoadImbalanceHigh", "MoeCloudRemoteFractionHigh", "MoeCloudMigrationStuck", "MoeCloudPodNotReady", "MoeCloudRequestFailuresHigh"],
            rule["spec"]!["groups"]!.AsArray().SelectMany(g => g!["rules"]!.AsArray()).Select(r => (string)r!["alert"]!));
    }

    [HelmFact]
    public async Task Lint_WhenStrictWithDashboardAndAlertsOn_Passes()
    {
        var (code, stdout, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["lint", "--strict", RepoPaths.Chart, "--set", "metrics.dashboard.enabled=true", "--set", "metrics.prometheusRule.enabled=true"]);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("0 chart(s) failed", stdout, StringComparison.Ordinal);
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
        await AssertTemplateFailsAsync("operator.replica=2", "replica");
        await AssertTemplateFailsAsync("operator.logLevel=Loud", "logLevel");
    }

    /// <summary>helm template with one <c>--set</c> must fail, naming <paramref name="expected"/> in its error.</summary>
    private static async Task AssertTemplateFailsAsync(string set, string expected)
    {
        var (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["template", "t", RepoPaths.Chart, "--set", set]);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    private static JsonObject Named(IEnumerable<JsonObject> objects, string kind, string name) =>
        Assert.Single(objects, o => (string?)o["kind"] == kind && (string?)o["metadata"]!["name"] == name);

    private static Dictionary<string, JsonNode> OperatorEnv(IEnumerable<JsonObject> objects) =>
        Named(objects, "Deployment", "t-moecloud-operator")["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!["env"]!.AsArray()
            .ToDictionary(e => (string)e!["name"]!, e => e!, StringComparer.Ordinal);

    private static string[] Verbs(JsonArray rules, string group, string resource) =>
        rules.Where(r => r!["apiGroups"]!.AsArray().Any(g => (string?)g == group) && r["resources"]!.AsArray().Any(x => (string?)x == resource))
            .SelectMany(r => r!["verbs"]!.AsArray().Select(v => (string)v!))
            .Order(StringComparer.Ordinal)
            .ToArray();

    private static async Task<List<JsonObject>> RenderAsync(params string[] extra)
    {
        var (code, stdout, stderr) = await KubeTools.RunAsync(KubeTools.Helm!, ["template", "t", RepoPaths.Chart, "--namespace", "moecloud", .. extra]);
        Assert.True(code == 0, stderr);
        return YamlDocuments.Load(stdout);
    }
}
