using System.Diagnostics;
using System.Globalization;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Tests.Commands;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>A fact that needs writable control groups with a cpu controller (root, cgroup v1 cpu or v2 cpu.max); skipped with the reason otherwise.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class CpuQuotaFactAttribute : FactAttribute
{
    public CpuQuotaFactAttribute()
    {
        using var probe = CpuQuota.Create(0.5);
        if (!probe.Enabled)
        {
            Skip = $"No CPU quota can be set here: {probe.Description}.";
        }
    }
}

[Collection(LocalClusterCollection.Name)]
public sealed class CpuQuotaTests
{
    [Fact]
    public void Create_WhenTheShareIsOutOfRange_ThrowsNamingTheRange()
    {
        var error = Assert.Throws<ArgumentException>(() => CpuQuota.Create(0));

        Assert.Contains("[0.01, 1024]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.5, 5_000, 10_000)]
    [InlineData(2, 20_000, 10_000)]
    [InlineData(0.1, 1_000, 10_000)]
    [InlineData(0.05, 1_000, 20_000)]
    [InlineData(0.01, 1_000, 100_000)]
    public void Period_Is10MsUnlessTheQuotaWouldFallBelowTheKernelsOneMillisecond(double cpus, long quota, long period)
    {
        using var q = CpuQuota.Create(cpus);

        Assert.Equal((quota, period), (q.QuotaMicroseconds, q.PeriodMicroseconds));
    }

    [Fact]
    public async Task Up_WhenCpusWithoutProcesses_FailsWithAUsageError()
    {
        var (code, _, error) = await MoectlRunner.Run("up", "--smoke", "--preset", "tiny", "--silos", "1", "--cpus", "0.5", "--warmup", "0");

        Assert.Equal(Cli.Hosting.Moectl.BadUsage, code);
        Assert.Contains("--cpus", error, StringComparison.Ordinal);
    }

    [CpuQuotaFact]
    public async Task Apply_WhenHalfACpu_PutsTheProcessInAGroupOf5000Per10000AndReleaseRemovesIt()
    {
        using var quota = CpuQuota.Create(0.5);
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", ["60"]) { UseShellExecute = false }) ?? throw new InvalidOperationException("could not start sleep");
        string? group;
        try
        {
            group = quota.Apply(pod: 3, sleeper.Id);

            Assert.NotNull(group);
            Assert.Equal("silo-3", Path.GetFileName(group));
            Assert.Equal((5_000L, 10_000L), ReadQuota(group));
            Assert.Contains(sleeper.Id.ToString(CultureInfo.InvariantCulture), File.ReadAllLines(Path.Join(group, "cgroup.procs")));
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync();
        }

        quota.Release(3);
        Assert.False(Directory.Exists(group));
    }

    [CpuQuotaFact]
    public async Task ProcessClusterStart_WhenHalfACpu_PutsTheSiloInAGroupOf5000Per10000AndRemovesItOnDispose()
    {
        var modelDir = await DemoDeployment.EnsureModel("tiny", seed: 1, TextWriter.Null, CancellationToken.None);
        string? group;
        await using (var cluster = await ProcessCluster.Start(1, new Dictionary<string, string> { ["tiny"] = modelDir }, TextWriter.Null, cpus: 0.5))
        {
            group = cluster.CpuGroup(0);

            Assert.NotNull(group);
            Assert.Contains("cgroup v", cluster.CpuQuota, StringComparison.Ordinal);
            Assert.Equal((5_000L, 10_000L), ReadQuota(group));
            Assert.Contains(cluster.ProcessId(0).ToString(CultureInfo.InvariantCulture), File.ReadAllLines(Path.Join(group, "cgroup.procs")));
        }

        Assert.False(Directory.Exists(group));
        Assert.False(Directory.Exists(Path.GetDirectoryName(group)));
    }

    [CpuQuotaFact]
    public void SiloLauncher_UnderACpuQuota_LeavesTheSilosWarmupWidthAtItsDefault_AndWithoutOneSetsItToOne()
    {
        var models = new Dictionary<string, string> { ["demo"] = "/models/demo" };
        using var quota = CpuQuota.Create(0.5);

        var quoted = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, quota).Arguments(1);
        var shared = new SiloLauncher("127.0.0.1:6379", "c", models, null, null, TextWriter.Null, null).Arguments(1);

        Assert.DoesNotContain("--warmups-in-flight", quoted);
        Assert.Equal("1", shared[shared.ToList().IndexOf("--warmups-in-flight") + 1]);
    }

    /// <summary>Quota and period of a group: cgroup v1's two files or v2's cpu.max.</summary>
    internal static (long Quota, long Period) ReadQuota(string group)
    {
        var max = Path.Join(group, "cpu.max");
        if (File.Exists(max))
        {
            var parts = File.ReadAllText(max).Split(' ', StringSplitOptions.TrimEntries);
            return (long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture));
        }

        return (long.Parse(File.ReadAllText(Path.Join(group, "cpu.cfs_quota_us")), CultureInfo.InvariantCulture), long.Parse(File.ReadAllText(Path.Join(group, "cpu.cfs_period_us")), CultureInfo.InvariantCulture));
    }
}
