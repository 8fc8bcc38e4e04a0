using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.ApiServer;

/// <summary>
/// The CRDs' x-kubernetes-validations rules, evaluated by the in-process API server: every rule of the chart's CRDs
/// rejects an object that breaks it (through KubernetesClient and through the real kubectl), valid objects pass,
/// and the server's CEL semantics (missing fields, transition rules, status rules, ratcheting, broken rules) match
/// a real API server's.
/// </summary>
public sealed class CelValidationTests
{
    private const string Group = "moecloud.io";
    private const string Version = "v1alpha1";
    private const string Immutable = "an ExpertPlacement is immutable; the operator writes a new version instead";

    /// <summary>One case per rule of the chart's CRDs: a valid object, a merge patch that breaks the rule, and the error.</summary>
    private static readonly Dictionary<string, Violation> Violations = new(StringComparer.Ordinal)
    {
        ["topK"] = new("moemodels", Model, """{"spec":{"architecture":{"topK":9}}}""", "spec.architecture", "topK must not exceed experts"),
        ["sharedExperts"] = new("moemodels", Model, """{"spec":{"architecture":{"sharedExperts":9}}}""", "spec.architecture", "sharedExperts must not exceed experts"),
        ["previousVersion"] = new("expertplacements", Placement, """{"spec":{"previousVersion":3}}""", "spec", "previousVersion must be lower than version"),
        ["replicasWithinBounds"] = new("moedeployments", Deployment, """{"spec":{"replicas":5,"autoscaling":{"pods":{"enabled":true,"minReplicas":1,"maxReplicas":4}}}}""", "spec",
            "replicas must lie within autoscaling.pods.minReplicas..maxReplicas when pod autoscaling is enabled"),
        ["contiguousRedundant"] = new("moedeployments", Deployment, """{"spec":{"placement":{"solver":"contiguous","redundantReplicas":1}}}""", "spec.placement",
            "the contiguous solver places no redundant replicas"),
        ["minMax"] = new("moedeployments", Deployment, """{"spec":{"autoscaling":{"pods":{"minReplicas":5,"maxReplicas":4}}}}""", "spec.autoscaling.pods",
            "minReplicas must not exceed maxReplicas"),
        ["podsTarget"] = new("moedeployments", Deployment, """{"spec":{"autoscaling":{"pods":{"targetP99Ms":null}}}}""", "spec.autoscaling.pods",
            "pod autoscaling needs a target: set targetP99Ms or targetQueueDepth"),
        ["standbyWithinMax"] = new("moedeployments", Deployment, """{"spec":{"autoscaling":{"pods":{"standby":5}}}}""", "spec.autoscaling.pods",
            "standby must not exceed maxReplicas"),
        ["minMaxRedundant"] = new("moedeployments", Deployment, """{"spec":{"autoscaling":{"experts":{"minRedundant":5,"maxRedundant":4}}}}""", "spec.autoscaling.experts",
            "minRedundant must not exceed maxRedundant"),
        ["expertTarget"] = new("moedeployments", Deployment, """{"spec":{"autoscaling":{"experts":{"enabled":true}}}}""", "spec.autoscaling.experts",
            "set exactly one of maxLoadImbalance and targetLoadPerReplica when expert autoscaling is enabled"),
    };

    public static TheoryData<string> ViolationNames => [.. Violations.Keys.Order(StringComparer.Ordinal)];

    [Fact]
    public void Cases_CoverEveryRuleOfTheChartCrds()
    {
        var messages = RepoPaths.CrdFiles.SelectMany(f => YamlDocuments.Load(File.ReadAllText(f)))
            .SelectMany(crd => Rules(CrdSchemas.Schema(crd)))
            .Select(r => (string)r["message"]!)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(11, messages.Count);
        Assert.Equal(messages, Violations.Values.Select(v => v.Message).Append(Immutable).Order(StringComparer.Ordinal).ToList());
    }

    [Fact]
    public async Task Install_WhenChartCrds_CompilesEveryRule()
    {
        await using var cluster = await Cluster.StartAsync();
        foreach (var crd in RepoPaths.CrdFiles.SelectMany(f => YamlDocuments.Load(File.ReadAllText(f))))
        {
            var plural = (string)crd["spec"]!["names"]!["plural"]!;
            var resource = cluster.Api.Catalog.Find(Group, Version, plural)!;
            Assert.Equal(Rules(CrdSchemas.Schema(crd)).Count(), cluster.Api.Catalog.Rules(resource)!.Count);
        }
    }

    [Theory]
    [MemberData(nameof(ViolationNames))]
    public async Task CreateAndPatch_WhenRuleViolated_Return422WithTheRuleMessage(string name)
    {
        var violation = Violations[name];
        await using var cluster = await Cluster.StartAsync();
        var objects = cluster.Client.CustomObjects;
        await objects.CreateNamespacedCustomObjectAsync(Manifest(violation.Valid, "good"), Group, Version, "default", violation.Plural);

        var broken = Broken(violation, "bad");
        var created = await RejectedAsync(() => objects.CreateNamespacedCustomObjectAsync(broken, Group, Version, "default", violation.Plural));
        AssertCause(created, violation.Field, violation.Message);
        var patched = await RejectedAsync(() => objects.PatchNamespacedCustomObjectAsync(
            new V1Patch(violation.Patch, V1Patch.PatchType.MergePatch), Group, Version, "default", violation.Plural, "good"));
        AssertCause(patched, violation.Field, violation.Message);

        await AssertMissingAsync(cluster, violation.Plural, "bad");
        var stored = (JsonObject)JsonNode.Parse(((System.Text.Json.JsonElement)await objects.GetNamespacedCustomObjectAsync(Group, Version, "default", violation.Plural, "good")).GetRawText())!;
        Assert.Equal(1, (int)stored["metadata"]!["generation"]!);
    }

    [KubectlTheory]
    [MemberData(nameof(ViolationNames))]
    public async Task KubectlApply_WhenRuleViolated_FailsAndPrintsTheRuleMessage(string name)
    {
        var violation = Violations[name];
        await using var cluster = await Cluster.StartAsync();
        var kubeconfig = cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"));
        var manifest = cluster.Temp.Combine("bad.json");
        await File.WriteAllTextAsync(manifest, Broken(violation, "bad").ToJsonString());

        var (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", manifest]);
        Assert.NotEqual(0, code);
        Assert.Contains($"{violation.Field}: Invalid value: \"object\": {violation.Message}", stderr, StringComparison.Ordinal);
        await AssertMissingAsync(cluster, violation.Plural, "bad");
    }

    [KubectlFact]
    public async Task KubectlApply_WhenSamplesAndValidPlacement_Succeeds()
    {
        await using var cluster = await Cluster.StartAsync();
        var kubeconfig = cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"));
        var placement = cluster.Temp.Combine("placement.yaml");
        await File.WriteAllTextAsync(placement, Placement.Replace("NAME", "lite-v1", StringComparison.Ordinal));

        var samples = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", RepoPaths.Samples]);
        Assert.True(samples.ExitCode == 0, samples.Stderr);
        Assert.Contains("moemodel.moecloud.io/deepseek-v2-lite created", samples.Stdout, StringComparison.Ordinal);
        Assert.Contains("moedeployment.moecloud.io/lite created", samples.Stdout, StringComparison.Ordinal);
        var applied = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", placement]);
        Assert.True(applied.ExitCode == 0, applied.Stderr);

        // Re-applying the same placement is no change, so the immutability rule holds.
        var again = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", placement]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("unchanged", again.Stdout, StringComparison.Ordinal);

        await File.WriteAllTextAsync(placement, Placement.Replace("NAME", "lite-v1", StringComparison.Ordinal).Replace("pods: 2", "pods: 3", StringComparison.Ordinal));
        var changed = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "-f", placement]);
        Assert.NotEqual(0, changed.ExitCode);
        Assert.Contains($"spec: Invalid value: \"object\": {Immutable}", changed.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_WhenExpertPlacementSpecChanges_IsRejectedButMetadataAndStatusWritesPass()
    {
        await using var cluster = await Cluster.StartAsync();
        var objects = cluster.Client.CustomObjects;
        await objects.CreateNamespacedCustomObjectAsync(Manifest(Placement, "p"), Group, Version, "default", "expertplacements");

        var changedLayers = await RejectedAsync(() => objects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"layers":[{"layer":0,"pods":[1,0]}]}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", "expertplacements", "p"));
        AssertCause(changedLayers, "spec", Immutable);
        var current = await GetAsync(cluster, "expertplacements", "p");
        current["spec"]!["solver"] = "eplb";
        var replaced = await RejectedAsync(() => objects.ReplaceNamespacedCustomObjectAsync(current, Group, Version, "default", "expertplacements", "p"));
        AssertCause(replaced, "spec", Immutable);

        await objects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"metadata":{"labels":{"moecloud.io/deployment":"d"}}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", "expertplacements", "p");
        await objects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"phase":"Complete"}}""", V1Patch.PatchType.MergePatch), Group, Version, "default", "expertplacements", "p");
        var stored = await GetAsync(cluster, "expertplacements", "p");
        Assert.Equal("ilp", (string?)stored["spec"]!["solver"]);
        Assert.Equal("Complete", (string?)stored["status"]!["phase"]);
        Assert.Equal("d", (string?)stored["metadata"]!["labels"]!["moecloud.io/deployment"]);
    }

    [Fact]
    public async Task Create_WhenRuleSelectsMissingField_IsRejectedWithNoSuchKey()
    {
        await using var cluster = await Cluster.StartAsync();
        InstallWidgets(cluster, WidgetCrd);
        var status = await RejectedAsync(() => CreateWidgetAsync(cluster, "w", """{"mode":"on"}"""));
        AssertCause(status, "spec", "Invalid value: \"object\": no such key: size evaluating rule: size must be positive");

        // A node the object lacks (spec.limits) is not evaluated; defaults are applied before the rules run.
        await CreateWidgetAsync(cluster, "ok", """{"size":1}""");
        var created = await GetAsync(cluster, "widgets", "ok", "test.moecloud.io", "v1");
        Assert.Null(created["spec"]!["limits"]);
        await CreateWidgetAsync(cluster, "defaults", """{"size":1,"limits":{}}""");
    }

    [Fact]
    public async Task Create_WhenRuleHasReasonFieldPathMessageExpressionOrNoMessage_ReportsThemLikeKubernetes()
    {
        await using var cluster = await Cluster.StartAsync();
        InstallWidgets(cluster, WidgetCrd);

        var forbidden = await RejectedAsync(() => CreateWidgetAsync(cluster, "w", """{"size":2,"mode":"off"}"""));
        var cause = Assert.Single(forbidden["details"]!["causes"]!.AsArray());
        Assert.Equal("spec.mode", (string?)cause!["field"]);
        Assert.Equal("FieldValueForbidden", (string?)cause["reason"]);
        Assert.Equal("Forbidden: mode off needs size 1", (string?)cause["message"]);

        var expression = await RejectedAsync(() => CreateWidgetAsync(cluster, "w", """{"size":1,"limits":{"low":7,"high":3}}"""));
        AssertCause(expression, "spec.limits", "Invalid value: \"object\": low 7 exceeds high 3");
        var defaulted = await RejectedAsync(() => CreateWidgetAsync(cluster, "w", """{"size":1,"limits":{"low":11}}"""));
        AssertCause(defaulted, "spec.limits", "low 11 exceeds high 10");

        var noMessage = await RejectedAsync(() => CreateWidgetAsync(cluster, "w", """{"size":101}"""));
        AssertCause(noMessage, "spec", "Invalid value: \"object\": failed rule: self.size <= 100");
        Assert.Equal("Invalid", (string?)noMessage["reason"]);
        Assert.Contains("Widget.test.moecloud.io \"w\" is invalid: spec: Invalid value: \"object\": failed rule: self.size <= 100", (string?)noMessage["message"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusSubresource_WhenRuleUnderStatusViolated_IsRejected()
    {
        await using var cluster = await Cluster.StartAsync();
        InstallWidgets(cluster, WidgetCrd);
        await CreateWidgetAsync(cluster, "w", """{"size":1}""");
        var objects = cluster.Client.CustomObjects;

        await objects.PatchNamespacedCustomObjectStatusAsync(new V1Patch("""{"status":{"ready":1,"total":2}}""", V1Patch.PatchType.MergePatch),
            "test.moecloud.io", "v1", "default", "widgets", "w");
        var status = await RejectedAsync(() => objects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch("""{"status":{"ready":3}}""", V1Patch.PatchType.MergePatch), "test.moecloud.io", "v1", "default", "widgets", "w"));
        AssertCause(status, "status", "ready must not exceed total");
        Assert.Equal(1, (int)(await GetAsync(cluster, "widgets", "w", "test.moecloud.io", "v1"))["status"]!["ready"]!);
    }

    [Fact]
    public async Task Update_WhenTransitionRuleInMapList_ComparesItemsWithTheSameKey()
    {
        await using var cluster = await Cluster.StartAsync();
        InstallWidgets(cluster, WidgetCrd);
        await CreateWidgetAsync(cluster, "w", """{"size":1,"ports":[{"name":"a","port":80}]}""");
        var objects = cluster.Client.CustomObjects;
        Task PatchAsync(string ports) => objects.PatchNamespacedCustomObjectAsync(
            new V1Patch("""{"spec":{"ports":""" + ports + "}}", V1Patch.PatchType.MergePatch), "test.moecloud.io", "v1", "default", "widgets", "w");

        var changed = await RejectedAsync(() => PatchAsync("""[{"name":"a","port":81}]"""));
        AssertCause(changed, "spec.ports[0]", "a port number cannot change");
        await PatchAsync("""[{"name":"b","port":90},{"name":"a","port":80}]""");
        var reordered = await RejectedAsync(() => PatchAsync("""[{"name":"a","port":90},{"name":"b","port":80}]"""));
        Assert.Equal(2, reordered["details"]!["causes"]!.AsArray().Count);
    }

    [Fact]
    public async Task Update_WhenInvalidValueUnchanged_IsRatchetedButChangedValueIsChecked()
    {
        await using var cluster = await Cluster.StartAsync();
        InstallWidgets(cluster, WidgetCrd.Replace("self.size <= 100", "self.size <= 1000", StringComparison.Ordinal));
        await CreateWidgetAsync(cluster, "w", """{"size":500}""");
        InstallWidgets(cluster, WidgetCrd);

        var objects = cluster.Client.CustomObjects;
        await objects.PatchNamespacedCustomObjectStatusAsync(new V1Patch("""{"status":{"ready":1,"total":1}}""", V1Patch.PatchType.MergePatch),
            "test.moecloud.io", "v1", "default", "widgets", "w");
        await objects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"metadata":{"labels":{"a":"b"}}}""", V1Patch.PatchType.MergePatch),
            "test.moecloud.io", "v1", "default", "widgets", "w");
        var status = await RejectedAsync(() => objects.PatchNamespacedCustomObjectAsync(new V1Patch("""{"spec":{"size":400}}""", V1Patch.PatchType.MergePatch),
            "test.moecloud.io", "v1", "default", "widgets", "w"));
        AssertCause(status, "spec", "failed rule: self.size <= 100");
    }

    [Theory]
    [InlineData("self.sise > 0", "undefined field 'sise'")]
    [InlineData("self.size >", "Syntax error: unexpected end of expression")]
    [InlineData("self.size + 1", "must evaluate to a bool, found int")]
    [InlineData("self.mode == 1", "found no matching overload for '_==_' applied to '(string, int)'")]
    public async Task CreateCrd_WhenRuleDoesNotCompile_IsRejectedAndNotServed(string rule, string expected)
    {
        await using var cluster = await Cluster.StartAsync();
        var crd = KubernetesYaml.Deserialize<V1CustomResourceDefinition>(WidgetCrd.Replace("self.size > 0", rule, StringComparison.Ordinal));
        var status = await RejectedAsync(() => cluster.Client.ApiextensionsV1.CreateCustomResourceDefinitionAsync(crd));
        var cause = Assert.Single(status["details"]!["causes"]!.AsArray());
        Assert.Contains("spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: Invalid value", (string?)cause!["message"], StringComparison.Ordinal);
        Assert.Contains(expected, (string?)cause["message"], StringComparison.Ordinal);
        Assert.Null(cluster.Api.Catalog.Find("test.moecloud.io", "v1", "widgets"));
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.ApiextensionsV1.ReadCustomResourceDefinitionAsync("widgets.test.moecloud.io"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Response.StatusCode);

        var file = cluster.Temp.Combine("broken.yaml");
        await File.WriteAllTextAsync(file, WidgetCrd.Replace("self.size > 0", rule, StringComparison.Ordinal));
        var thrown = Assert.ThrowsAny<Exception>(() => cluster.Api.InstallCrds([file]));
        Assert.Contains(expected, thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CreateCrd_WhenTransitionRuleInsideAtomicList_IsRejected()
    {
        await using var cluster = await Cluster.StartAsync();
        var file = cluster.Temp.Combine("atomic.yaml");
        await File.WriteAllTextAsync(file, WidgetCrd.Replace("x-kubernetes-list-type: map", "x-kubernetes-list-type: atomic", StringComparison.Ordinal));
        var e = Assert.ThrowsAny<Exception>(() => cluster.Api.InstallCrds([file]));
        Assert.Contains("oldSelf cannot be used on the uncorrelatable portion of the schema", e.Message, StringComparison.Ordinal);
    }

    [KubectlFact]
    public async Task KubectlApply_WhenCrdRuleDoesNotCompile_FailsWithTheCompileError()
    {
        await using var cluster = await Cluster.StartAsync();
        var kubeconfig = cluster.Api.WriteKubeconfig(cluster.Temp.Combine("kubeconfig"));
        var file = cluster.Temp.Combine("broken.yaml");
        await File.WriteAllTextAsync(file, WidgetCrd.Replace("self.size > 0", "self.sise > 0", StringComparison.Ordinal));
        // The in-process server publishes OpenAPI for custom resources only, so kubectl's client-side check of the
        // CRD manifest itself is turned off; the server still compiles the rules and refuses the CRD.
        var (code, _, stderr) = await KubeTools.RunAsync(KubeTools.Kubectl!, ["--kubeconfig", kubeconfig, "apply", "--validate=false", "-f", file]);
        Assert.NotEqual(0, code);
        Assert.True(stderr.Contains("undefined field 'sise'", StringComparison.Ordinal), stderr);
        Assert.Contains("x-kubernetes-validations[0].rule", stderr, StringComparison.Ordinal);
    }

    private static JsonObject Manifest(string yaml, string name) =>
        YamlDocuments.Load(yaml.Replace("NAME", name, StringComparison.Ordinal)).Single();

    private static JsonObject Broken(Violation violation, string name)
    {
        var patch = JsonNode.Parse(violation.Patch)!.AsObject();
        var manifest = Manifest(violation.Valid, name);
        Merge(manifest, patch);
        return manifest;
    }

    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch)
        {
            if (value is null)
            {
                target.Remove(key); // as in a JSON merge patch (RFC 7386), null removes the field
            }
            else if (value is JsonObject child && target[key] is JsonObject existing)
            {
                Merge(existing, child);
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }

    private static IEnumerable<JsonObject> Rules(JsonObject schema) =>
        (schema["x-kubernetes-validations"] as JsonArray ?? []).Select(r => r!.AsObject())
            .Concat((schema["properties"] as JsonObject ?? []).SelectMany(p => Rules(p.Value!.AsObject())))
            .Concat(schema["items"] is JsonObject items ? Rules(items) : []);

    private static async Task<JsonObject> RejectedAsync(Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(action);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var status = JsonNode.Parse(e.Response.Content)!.AsObject();
        Assert.Equal("Status", (string?)status["kind"]);
        Assert.Equal("Invalid", (string?)status["reason"]);
        return status;
    }

    private static void AssertCause(JsonObject status, string field, string message)
    {
        var causes = status["details"]!["causes"]!.AsArray();
        Assert.True(
            causes.Any(c => (string?)c!["field"] == field && ((string?)c["message"])!.Contains(message, StringComparison.Ordinal)),
            $"no cause at {field} with \"{message}\" in {status.ToJsonString()}");
        Assert.Contains($"{field}: ", (string?)status["message"], StringComparison.Ordinal);
    }

    private static async Task AssertMissingAsync(Cluster cluster, string plural, string name)
    {
        var e = await Assert.ThrowsAsync<HttpOperationException>(() => cluster.Client.CustomObjects.GetNamespacedCustomObjectAsync(Group, Version, "default", plural, name));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
    }

    private static async Task<JsonObject> GetAsync(Cluster cluster, string plural, string name, string group = Group, string version = Version)
    {
        var element = (System.Text.Json.JsonElement)await cluster.Client.CustomObjects.GetNamespacedCustomObjectAsync(group, version, "default", plural, name);
        return JsonNode.Parse(element.GetRawText())!.AsObject();
    }

    private static void InstallWidgets(Cluster cluster, string yaml)
    {
        var file = cluster.Temp.Combine($"widgets-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, yaml);
        cluster.Api.InstallCrds([file]);
    }

    private static Task CreateWidgetAsync(Cluster cluster, string name, string spec) =>
        cluster.Client.CustomObjects.CreateNamespacedCustomObjectAsync(
            new JsonObject
            {
                ["apiVersion"] = "test.moecloud.io/v1",
                ["kind"] = "Widget",
                ["metadata"] = new JsonObject { ["name"] = name },
                ["spec"] = JsonNode.Parse(spec),
            },
            "test.moecloud.io", "v1", "default", "widgets");

    private sealed record Violation(string Plural, string Valid, string Patch, string Field, string Message);

    private const string Model = """
        apiVersion: moecloud.io/v1alpha1
        kind: MoeModel
        metadata: {name: NAME}
        spec:
          architecture: {layers: 2, experts: 8, topK: 2, hiddenSize: 16, moeIntermediateSize: 8, sharedExperts: 1}
          weights: {path: /models/m}
        """;

    private const string Deployment = """
        apiVersion: moecloud.io/v1alpha1
        kind: MoeDeployment
        metadata: {name: NAME}
        spec:
          modelRef: {name: m}
          replicas: 2
          placement: {solver: eplb, redundantReplicas: 1}
          autoscaling: {pods: {enabled: true, minReplicas: 1, maxReplicas: 4, targetP99Ms: 200}}
        """;

    private const string Placement = """
        apiVersion: moecloud.io/v1alpha1
        kind: ExpertPlacement
        metadata: {name: NAME}
        spec:
          deploymentName: lite
          version: 2
          previousVersion: 1
          pods: 2
          solver: ilp
          reason: Rebalance
          layers:
            - layer: 0
              pods: [0, 1]
              redundant: [{expert: 0, pod: 1}]
          metrics: {loadImbalance: 1.25, moves: 1, movedBytes: 4096}
        """;

    /// <summary>A CRD exercising the server's CEL semantics beyond what the chart's CRDs use.</summary>
    private const string WidgetCrd = """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: widgets.test.moecloud.io}
        spec:
          group: test.moecloud.io
          names: {kind: Widget, plural: widgets, singular: widget}
          scope: Namespaced
          versions:
            - name: v1
              served: true
              storage: true
              subresources: {status: {}}
              schema:
                openAPIV3Schema:
                  type: object
                  properties:
                    metadata: {type: object}
                    spec:
                      type: object
                      x-kubernetes-validations:
                        - rule: self.size > 0
                          message: size must be positive
                        - rule: "!has(self.mode) || self.mode != 'off' || self.size == 1"
                          message: mode off needs size 1
                          reason: FieldValueForbidden
                          fieldPath: .mode
                        - rule: self.size <= 100
                      properties:
                        size: {type: integer}
                        mode: {type: string}
                        limits:
                          type: object
                          x-kubernetes-validations:
                            - rule: self.low <= self.high
                              messageExpression: "'low ' + string(self.low) + ' exceeds high ' + string(self.high)"
                          properties:
                            low: {type: integer, default: 0}
                            high: {type: integer, default: 10}
                        ports:
                          type: array
                          x-kubernetes-list-type: map
                          x-kubernetes-list-map-keys: [name]
                          items:
                            type: object
                            required: [name, port]
                            x-kubernetes-validations:
                              - rule: self.port == oldSelf.port
                                message: a port number cannot change
                            properties:
                              name: {type: string}
                              port: {type: integer}
                    status:
                      type: object
                      x-kubernetes-validations:
                        - rule: self.ready <= self.total
                          message: ready must not exceed total
                      properties:
                        ready: {type: integer, default: 0}
                        total: {type: integer, default: 0}
        """;
}

/// <summary>A theory that needs the real kubectl; skipped with a clear reason when it is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KubectlTheoryAttribute : TheoryAttribute
{
    /// <summary>Skips the theory when kubectl is missing.</summary>
    public KubectlTheoryAttribute()
    {
        if (KubeTools.Kubectl is null)
        {
            Skip = "kubectl " + KubeTools.Missing;
        }
    }
}
