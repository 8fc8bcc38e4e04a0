using System.Diagnostics;
using System.Globalization;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// Who owns a container cluster's containers and network: the label <see cref="Label"/> says
/// <c>pid:start</c>, the moectl process's id and its start time (clock ticks since boot, from <c>/proc/pid/stat</c>), so a
/// reused pid is not taken for the owner. A moectl killed outright (SIGKILL) cannot remove what it started: a small
/// <c>/bin/sh</c> watchdog (<see cref="StartWatchdog"/>), started beside the cluster, removes it once the owner is gone, and
/// every container run first removes what owners that are gone left behind (<see cref="Sweep"/>), in case the watchdog
/// was killed too.
/// </summary>
public static class ContainerOwner
{
    /// <summary>The label on every container and network a container cluster starts.</summary>
    public const string Label = "io.moecloud.owner";

    // $1 pid, $2 its start time, $3 the owner label's value, $4 the network. Waits while the owner lives, then removes
    // its containers (by label) and its network; exits at once when it is stopped with the cluster.
    private const string Watchdog = """
        alive() { s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20); [ -n "$s" ] && [ "$s" = "$2" ]; }
        while alive "$1" "$2"; do sleep 1; done
        podman ps --all --quiet --filter "label=io.moecloud.owner=$3" | xargs -r podman rm --force --time 0 >/dev/null 2>&1
        podman network rm --force "$4" >/dev/null 2>&1
        exit 0
        """;

    /// <summary>This process's owner value (<c>pid:start</c>).</summary>
    public static string Current { get; } = Of(Environment.ProcessId) ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ":0";

    /// <summary>The owner value of process <paramref name="pid"/> as it runs now; null when there is no such process.</summary>
    public static string? Of(int pid) => StartTime(pid) is { } start ? $"{pid.ToString(CultureInfo.InvariantCulture)}:{start}" : null;

    /// <summary>Whether the process an owner value names still runs (the same pid with the same start time).</summary>
    public static bool IsAlive(string owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var colon = owner.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && int.TryParse(owner.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Of(pid) == owner;
    }

    /// <summary>Starts the watchdog that removes <paramref name="network"/> and this process's containers once this process is gone.</summary>
    public static Process StartWatchdog(string network)
    {
        var colon = Current.IndexOf(':', StringComparison.Ordinal);
        var start = new ProcessStartInfo("/bin/sh", ["-c", Watchdog, "moecloud-container-watchdog", Current[..colon], Current[(colon + 1)..], Current, network])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the container watchdog (/bin/sh)");
    }

    /// <summary>Removes the containers, then the networks, whose owner label names a process that is gone; what it removed, in words.</summary>
    public static async Task<IReadOnlyList<string>> Sweep(CancellationToken ct)
    {
        var removed = new List<string>();
        foreach (var (id, owner) in await Labelled(["ps", "--all", "--filter", $"label={Label}", "--format", $"{{{{.ID}}}}\t{{{{index .Labels \"{Label}\"}}}}"], ct))
        {
            if (!IsAlive(owner) && (await Podman.TryRun(["rm", "--force", "--time", "0", id], ct)).Code == 0)
            {
                removed.Add($"container {id} (owner {owner})");
            }
        }

        // podman network ls renders labels as a list, so each network's owner is read with network inspect.
        var (listed, names, _) = await Podman.TryRun(["network", "ls", "--filter", $"label={Label}", "--format", "{{.Name}}"], ct);
        foreach (var name in listed != 0 ? Array.Empty<string>() : names.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (code, owner, _) = await Podman.TryRun(["network", "inspect", name, "--format", $"{{{{index .Labels \"{Label}\"}}}}"], ct);
            if (code == 0 && owner.Length > 0 && !IsAlive(owner) && (await Podman.TryRun(["network", "rm", "--force", name], ct)).Code == 0)
            {
                removed.Add($"network {name} (owner {owner})");
            }
        }

        return removed;
    }

    private static async Task<IEnumerable<(string Name, string Owner)>> Labelled(IReadOnlyList<string> args, CancellationToken ct)
    {
        var (code, stdout, _) = await Podman.TryRun(args, ct);
        return code != 0 ? [] : stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('\t'))
            .Where(f => f.Length == 2 && f[1].Length > 0)
            .Select(f => (f[0], f[1]));
    }

    /// <summary>Field 22 of <c>/proc/pid/stat</c> (after the command name, which may hold spaces); null when the process is gone.</summary>
    private static string? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
