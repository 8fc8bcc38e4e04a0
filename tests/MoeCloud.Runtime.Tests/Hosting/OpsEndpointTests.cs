namespace MoeCloud.Runtime.Tests.Hosting;

[Collection(ClusterCollection.Name)]
public sealed class OpsEndpointTests(ClusterFixture fixture)
{
    [Fact]
    public async Task HealthReadinessAndMetrics_AreServedOnTheOpsPort_AndNameTheExpertBackend()
    {
        using var http = new HttpClient { BaseAddress = fixture.Cluster.Silos[1].OpsAddress };
        await fixture.Runner(1).ForwardAsync(RequestFactory.Forward(ClusterFixture.Model, 0, 0, RequestFactory.Hidden(2, fixture.Reference.Model.Spec.Hidden, 1), 2, fixture.Reference.Model.Spec.Hidden));

        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        var backend = "cpu-" + MoeCloud.Model.Kernels.Bf16KernelPaths.ToName(MoeCloud.Model.Kernels.CpuFeatures.Detected.Best)
            + (MoeCloud.Model.Kernels.OpenBlas.IsAvailable ? "" : "-managed-gemm");
        Assert.Equal($"ready\nexpert backend: {backend}\n", await http.GetStringAsync("/readyz"));
        var metrics = await http.GetStringAsync("/metrics");

        Assert.Contains("moecloud_silo_dispatches_total{model=\"tiny\",kind=\"local\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("moecloud_silo_plan_version{model=\"tiny\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("moecloud_silo_kernel_seconds_bucket", metrics, StringComparison.Ordinal);
        Assert.Contains($"moecloud_silo_expert_backend_info{{backend=\"{backend}\"}} 1", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("expert=", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_CountTheMethodsTheProcessHasJitted_AndTheCountRisesAsNewCodeRuns()
    {
        using var http = new HttpClient { BaseAddress = fixture.Cluster.Silos[1].OpsAddress };

        var before = JittedMethods(await http.GetStringAsync("/metrics"));
        NewCode.Run(); // a method no test has called: the JIT compiles it now
        var after = JittedMethods(await http.GetStringAsync("/metrics"));

        Assert.True(before > 0, $"moecloud_silo_jit_compiled_methods was {before}");
        Assert.True(after > before, $"moecloud_silo_jit_compiled_methods went from {before} to {after}");
        Assert.Contains("moecloud_silo_jit_seconds ", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    private static double JittedMethods(string metrics) =>
        double.Parse(metrics.Split('\n').Single(l => l.StartsWith("moecloud_silo_jit_compiled_methods ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);

    private static class NewCode
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        public static void Run() => GC.KeepAlive(new object());
    }
}

public sealed class SiloOptionsValidatorTests
{
    [Fact]
    public void Validate_WhenSeveralSettingsAreBad_ReportsEveryProblem()
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions
        {
            PodIndex = -1,
            Clustering = MoeCloud.Runtime.Hosting.ClusteringMode.Kubernetes,
            KernelThreads = 0,
            WarmupsPerPod = 0,
            Models = { ["a/b"] = "" },
        };

        var result = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToArray();
        Assert.Contains(failures, f => f.Contains("PodIndex", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("RedisConnectionString is required when Clustering is Kubernetes", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("KernelThreads", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("WarmupsPerPod must be in [1, 64]", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("contain no '/'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("needs a checkpoint directory", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1023)]
    [InlineData(-4096)]
    [InlineData((1 << 30) + 1)]
    public void Validate_WhenTelemetryWindowTokensOutOfRange_SaysTheRange(int window)
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions { TelemetryWindowTokens = window };

        var result = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Equal($"TelemetryWindowTokens must be in [1024, 1073741824] tokens, got {window}.", Assert.Single(result.Failures!));
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(32768)]
    [InlineData(1 << 30)]
    public void Validate_WhenTelemetryWindowTokensInRange_Succeeds(int window)
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions { TelemetryWindowTokens = window };

        Assert.True(new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options).Succeeded);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)]
    [InlineData(-1.0)]
    [InlineData(601.0)]
    public void Validate_WhenShutdownTimeoutOutOfRange_SaysTheRange(double seconds)
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions { ShutdownTimeout = TimeSpan.FromSeconds(seconds) };

        var result = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.StartsWith("ShutdownTimeout must be in [1 s, 10 min]", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(9.0)]
    [InlineData(-1000.0)]
    [InlineData(600_001.0)]
    public void Validate_WhenRemoteReplyTimeoutOutOfRange_SaysTheRange(double milliseconds)
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions { RemoteReplyTimeout = TimeSpan.FromMilliseconds(milliseconds) };

        var result = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.StartsWith("RemoteReplyTimeout must be in [10 ms, 10 min]", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1.0)]
    [InlineData(600_001.0)]
    public void Validate_WhenAvoidFailedPodForOutOfRange_SaysTheRange(double milliseconds)
    {
        var options = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptions { AvoidFailedPodFor = TimeSpan.FromMilliseconds(milliseconds) };

        var result = new MoeCloud.Runtime.Hosting.MoeCloudSiloOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.StartsWith("AvoidFailedPodFor must be in [0, 10 min]", Assert.Single(result.Failures!), StringComparison.Ordinal);
    }
}
