using System.Globalization;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// A fixed CPU quota per silo process, so that on one machine more pods really mean more capacity. Each silo gets its
/// own control group under a parent this moectl creates (<c>moecloud-&lt;pid&gt;</c>, beside this process's own cpu
/// group), with <c>cpus × 10 ms</c> of CPU time per 10 ms period (<see cref="PeriodMicroseconds"/>):
/// <list type="bullet">
/// <item>cgroup v1 with the cpu controller mounted: <c>cpu.cfs_quota_us</c> / <c>cpu.cfs_period_us</c>;</item>
/// <item>cgroup v2 with the cpu controller available: <c>cpu.max</c> (<c>"quota period"</c>).</item>
/// </list>
/// Where neither can be written (not root, no cpu controller, a read-only mount) quotas are off and
/// <see cref="Description"/> says why; the silos then share the machine's cores. The groups are removed when their
/// silo stops (<see cref="Release"/>) and on dispose. A silo runs unlimited from its exec until its pid is moved into its
/// group, a few milliseconds later; children it starts afterwards inherit the group.
/// </summary>
public sealed class CpuQuota : IDisposable
{
    /// <summary>
    /// The scheduling period where the quota allows it: 10 ms, not the kernel's default of 100 ms. A silo that used its
    /// quota waits for the next period, and a step waits at each layer for its slowest pod: with 100 ms periods a
    /// scale-out from 2 to 4 pods at 0.25 CPU each made steps slower at the same load (more pods per layer, so more
    /// layers that met a throttled pod, each up to 75 ms), where 10 ms bounds each wait to a few milliseconds.
    /// </summary>
    public const int PreferredPeriodMicroseconds = 10_000;

    /// <summary>The kernel's least quota per period (1 ms); a small share gets a longer period to reach it.</summary>
    public const int MinQuotaMicroseconds = 1_000;

    private readonly string? _parent;
    private readonly bool _v2;
    private readonly Dictionary<int, string> _groups = [];

    private CpuQuota(double cpus, string? parent, bool v2, string description)
    {
        Cpus = cpus;
        _parent = parent;
        _v2 = v2;
        Description = description;
    }

    /// <summary>CPUs each silo may use (CPU time per wall-clock time).</summary>
    public double Cpus { get; }

    /// <summary>True when silos are put in groups with the quota; false when quotas are off (see <see cref="Description"/>).</summary>
    public bool Enabled => _parent is not null;

    /// <summary>Which path runs (the parent group and files written), or why quotas are off.</summary>
    public string Description { get; }

    /// <summary>
    /// The period in microseconds: <see cref="PreferredPeriodMicroseconds"/>, or as long as a quota of
    /// <see cref="MinQuotaMicroseconds"/> needs (100 ms for 0.01 CPU).
    /// </summary>
    public long PeriodMicroseconds => Period(Cpus);

    /// <summary>The quota of one period in microseconds: <see cref="Cpus"/> × <see cref="PeriodMicroseconds"/>.</summary>
    public long QuotaMicroseconds => Quota(Cpus);

    /// <summary>
    /// Detects whether quotas can be set here and creates the parent group; never throws for a machine that cannot, but
    /// returns a quota with <see cref="Enabled"/> false. <paramref name="cpus"/> must be in [0.01, 1024].
    /// </summary>
    public static CpuQuota Create(double cpus)
    {
        if (!double.IsFinite(cpus) || cpus is < 0.01 or > 1024)
        {
            throw new ArgumentException($"the CPU quota per silo must be in [0.01, 1024] CPUs (got {cpus.ToString(CultureInfo.InvariantCulture)})", nameof(cpus));
        }

        var name = $"moecloud-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}";
        if (!OperatingSystem.IsLinux())
        {
            return Off(cpus, "control groups are a Linux feature");
        }

        string mounts, own;
        try
        {
            mounts = File.ReadAllText("/proc/self/mountinfo");
            own = File.ReadAllText("/proc/self/cgroup");
        }
        catch (IOException e)
        {
            return Off(cpus, $"cannot read /proc/self/mountinfo or /proc/self/cgroup ({e.Message})");
        }

        if (V1Mount(mounts) is { } v1)
        {
            var parent = Path.Join(v1, OwnGroup(own, v1: true), name);
            return TryCreate(parent, () => { }) is { } why
                ? Off(cpus, $"the cgroup v1 cpu controller is mounted at {v1} but {parent} cannot be created ({why})")
                : new CpuQuota(cpus, parent, v2: false, $"CPU quota {Text(cpus)} per silo, cgroup v1: {parent}/silo-<pod> with cpu.cfs_quota_us {Quota(cpus)} per cpu.cfs_period_us {Period(cpus)}");
        }

        if (V2Mount(mounts) is { } unified)
        {
            var ownDir = Path.Join(unified, OwnGroup(own, v1: false));
            if (!ReadOrEmpty(Path.Join(ownDir, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains("cpu"))
            {
                return Off(cpus, $"no cgroup v1 cpu controller is mounted and the cgroup v2 cpu controller is not available in {ownDir}");
            }

            var parent = Path.Join(ownDir, name);
            return TryCreate(parent, () =>
            {
                // Children get cpu.max only where their parents delegate the controller.
                File.WriteAllText(Path.Join(ownDir, "cgroup.subtree_control"), "+cpu");
                File.WriteAllText(Path.Join(parent, "cgroup.subtree_control"), "+cpu");
            }) is { } why
                ? Off(cpus, $"cgroup v2 at {unified}: cannot create {parent} with the cpu controller delegated ({why})")
                : new CpuQuota(cpus, parent, v2: true, $"CPU quota {Text(cpus)} per silo, cgroup v2: {parent}/silo-<pod> with cpu.max \"{Quota(cpus)} {Period(cpus)}\"");
        }

        return Off(cpus, "neither a cgroup v1 cpu controller nor a cgroup v2 hierarchy is mounted");
    }

    /// <summary>
    /// Puts process <paramref name="pid"/> (pod <paramref name="pod"/>'s silo) in a group of its own with the quota and
    /// returns the group's directory; null when quotas are off. Throws <see cref="IOException"/> when the group cannot
    /// be written.
    /// </summary>
    public string? Apply(int pod, int pid)
    {
        if (_parent is null)
        {
            return null;
        }

        var group = Path.Join(_parent, $"silo-{pod.ToString(CultureInfo.InvariantCulture)}");
        Directory.CreateDirectory(group);
        lock (_groups)
        {
            _groups[pod] = group;
        }

        var quota = QuotaMicroseconds.ToString(CultureInfo.InvariantCulture);
        var period = PeriodMicroseconds.ToString(CultureInfo.InvariantCulture);
        if (_v2)
        {
            File.WriteAllText(Path.Join(group, "cpu.max"), $"{quota} {period}");
        }
        else
        {
            File.WriteAllText(Path.Join(group, "cpu.cfs_period_us"), period);
            File.WriteAllText(Path.Join(group, "cpu.cfs_quota_us"), quota);
        }

        File.WriteAllText(Path.Join(group, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
        return group;
    }

    /// <summary>Removes pod <paramref name="pod"/>'s group once its silo has exited (a group with live processes stays).</summary>
    public void Release(int pod)
    {
        string? group;
        lock (_groups)
        {
            if (!_groups.Remove(pod, out group))
            {
                return;
            }
        }

        Remove(group);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        int[] pods;
        lock (_groups)
        {
            pods = [.. _groups.Keys];
        }

        foreach (var pod in pods)
        {
            Release(pod);
        }

        if (_parent is not null)
        {
            Remove(_parent);
        }
    }

    private static CpuQuota Off(double cpus, string why) => new(cpus, null, v2: false, $"CPU quotas off (asked for {Text(cpus)} per silo): {why}; the silos share the machine's cores");

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static long Period(double cpus) => Math.Max(PreferredPeriodMicroseconds, (long)Math.Ceiling(MinQuotaMicroseconds / cpus));

    private static long Quota(double cpus) => (long)Math.Round(cpus * Period(cpus));

    /// <summary>Creates <paramref name="dir"/> and runs <paramref name="then"/>; the reason it failed, or null.</summary>
    private static string? TryCreate(string dir, Action then)
    {
        try
        {
            Directory.CreateDirectory(dir);
            then();
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Remove(dir);
            return e.Message;
        }
    }

    /// <summary>rmdir of a group: it holds only the kernel's files, which go with it. A group still in use stays.</summary>
    private static void Remove(string dir)
    {
        for (var attempt = 0; attempt < 20 && Directory.Exists(dir); attempt++)
        {
            try
            {
                Directory.Delete(dir, recursive: false);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Busy: an exited process not yet reaped; try again shortly.
                Thread.Sleep(50);
            }
        }
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>The mount point of the cgroup v1 hierarchy that has the cpu controller, from /proc/self/mountinfo.</summary>
    private static string? V1Mount(string mountinfo) => Mounts(mountinfo)
        .Where(m => m.Type == "cgroup" && m.SuperOptions.Split(',').Contains("cpu"))
        .Select(m => m.Point)
        .FirstOrDefault();

    private static string? V2Mount(string mountinfo) => Mounts(mountinfo).Where(m => m.Type == "cgroup2").Select(m => m.Point).FirstOrDefault();

    /// <summary>Mount point, filesystem type and super options of each line (fields: … mount-point … - type source super-options).</summary>
    private static IEnumerable<(string Point, string Type, string SuperOptions)> Mounts(string mountinfo)
    {
        foreach (var line in mountinfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ');
            var dash = Array.IndexOf(fields, "-");
            if (dash >= 5 && fields.Length >= dash + 4)
            {
                yield return (fields[4], fields[dash + 1], fields[dash + 3]);
            }
        }
    }

    /// <summary>This process's group path (relative) in the cpu v1 hierarchy or the v2 hierarchy, from /proc/self/cgroup.</summary>
    private static string OwnGroup(string cgroup, bool v1)
    {
        foreach (var line in cgroup.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(':', 3);
            if (parts.Length == 3 && (v1 ? parts[1].Split(',').Contains("cpu") : parts[0] == "0" && parts[1].Length == 0))
            {
                return parts[2].TrimStart('/');
            }
        }

        return "";
    }
}
