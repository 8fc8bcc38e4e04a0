using System.Globalization;
using k8s.Models;

namespace MoeCloud.Cli.Cluster;

/// <summary>Where one pod runs: its name and IP, and what the kubelet would resolve for it (Secrets, volumes, the API server).</summary>
/// <param name="Name">metadata.name</param>
/// <param name="Namespace">metadata.namespace</param>
/// <param name="Ip">status.podIP: a fixed address on the network the pods share.</param>
/// <param name="Secrets">Secret name → its entries, for <c>envFrom.secretRef</c>.</param>
/// <param name="Volumes">Volume name → host directory, for configMap and persistentVolumeClaim volumes.</param>
/// <param name="ServiceAccount">Host directory mounted at the service account path when the pod automounts a token; null when there is none.</param>
/// <param name="KubeletEnv">What the kubelet adds to every container (<c>KUBERNETES_SERVICE_HOST</c>, <c>KUBERNETES_SERVICE_PORT</c>).</param>
public sealed record PodPlace(
    string Name,
    string Namespace,
    string Ip,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Secrets,
    IReadOnlyDictionary<string, string> Volumes,
    string? ServiceAccount,
    IReadOnlyDictionary<string, string> KubeletEnv);

/// <summary>A container mount: a tmpfs (emptyDir) when <paramref name="HostPath"/> is null, else a bind mount.</summary>
/// <param name="Path">Path in the container.</param>
/// <param name="HostPath">Host directory, or null for a tmpfs.</param>
/// <param name="ReadOnly">Mounted read-only.</param>
public sealed record PodMount(string Path, string? HostPath, bool ReadOnly);

/// <summary>
/// One container of a pod template the operator rendered, resolved as the kubelet resolves it: the image, entry point,
/// arguments, environment (field references and Secrets), volumes, user and security context. Engine-neutral: the
/// container tests hand it to Testcontainers, <see cref="ContainerCluster"/> to the podman CLI
/// (<see cref="PodmanArguments"/>). Nothing here restates what the operator configures.
/// </summary>
/// <param name="Image">Image reference.</param>
/// <param name="Entrypoint">The container's command (replaces the image's entry point); empty to keep it.</param>
/// <param name="Args">The container's arguments; empty to keep the image's.</param>
/// <param name="Env">The environment, resolved.</param>
/// <param name="Mounts">Mounts.</param>
/// <param name="User"><c>uid</c> or <c>uid:gid</c>; null for the image's user.</param>
/// <param name="ReadOnlyRoot">A read-only root file system.</param>
/// <param name="CapDrop">Capabilities dropped.</param>
/// <param name="CapAdd">Capabilities added.</param>
/// <param name="NoNewPrivileges">No privilege escalation.</param>
/// <param name="Ip">The pod's IP on its network.</param>
public sealed record PodRun(
    string Image,
    IReadOnlyList<string> Entrypoint,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<PodMount> Mounts,
    string? User,
    bool ReadOnlyRoot,
    IReadOnlyList<string> CapDrop,
    IReadOnlyList<string> CapAdd,
    bool NoNewPrivileges,
    string Ip)
{
    private const string ServiceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount";

    /// <summary>Resolves container <paramref name="c"/> of <paramref name="pod"/> for <paramref name="place"/>; throws when the pod needs something the place lacks.</summary>
    public static PodRun From(V1PodSpec pod, V1Container c, PodPlace place)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(place);
        var env = new Dictionary<string, string>(place.KubeletEnv, StringComparer.Ordinal);
        foreach (var from in c.EnvFrom ?? [])
        {
            var secret = place.Secrets.GetValueOrDefault(from.SecretRef?.Name ?? "")
                ?? throw new InvalidOperationException($"container {c.Name}: envFrom names a Secret that is not given ({from.SecretRef?.Name})");
            foreach (var (k, v) in secret)
            {
                env[k] = v;
            }
        }

        foreach (var e in c.Env ?? [])
        {
            env[e.Name] = e.Value ?? e.ValueFrom?.FieldRef?.FieldPath switch
            {
                "metadata.name" => place.Name,
                "metadata.namespace" => place.Namespace,
                "status.podIP" => place.Ip,
                var other => throw new InvalidOperationException($"container {c.Name}: env {e.Name} from {other ?? "an unsupported source"}"),
            };
        }

        var podSecurity = pod.SecurityContext ?? new V1PodSecurityContext();
        var security = c.SecurityContext ?? new V1SecurityContext();
        var user = security.RunAsUser ?? podSecurity.RunAsUser;
        var group = security.RunAsGroup ?? podSecurity.RunAsGroup;
        if ((security.RunAsNonRoot ?? podSecurity.RunAsNonRoot) == true && user is null or 0)
        {
            throw new InvalidOperationException($"container {c.Name}: runAsNonRoot without a non-zero runAsUser");
        }

        var mounts = new List<PodMount>();
        foreach (var mount in c.VolumeMounts ?? [])
        {
            var volume = (pod.Volumes ?? []).SingleOrDefault(v => v.Name == mount.Name)
                ?? throw new InvalidOperationException($"container {c.Name}: mount {mount.Name} names no volume of the pod");
            var host = volume.EmptyDir is not null
                ? null
                : place.Volumes.GetValueOrDefault(mount.Name) ?? throw new InvalidOperationException($"container {c.Name}: no host directory for volume {mount.Name}");
            mounts.Add(new PodMount(mount.MountPath, host, mount.ReadOnlyProperty == true));
        }

        if (pod.AutomountServiceAccountToken == true)
        {
            var dir = place.ServiceAccount ?? throw new InvalidOperationException($"pod {place.Name} mounts a service account token, but none is given");
            mounts.Add(new PodMount(ServiceAccountPath, dir, ReadOnly: true));
        }

        return new PodRun(
            c.Image,
            [.. c.Command ?? []],
            [.. c.Args ?? []],
            env,
            mounts,
            user is null ? null : group is null ? $"{user}" : $"{user}:{group}",
            security.ReadOnlyRootFilesystem == true,
            [.. security.Capabilities?.Drop ?? []],
            [.. security.Capabilities?.Add ?? []],
            security.AllowPrivilegeEscalation == false,
            place.Ip);
    }

    /// <summary>The arguments of <c>podman run --detach</c> for this container, named <paramref name="name"/>, on <paramref name="network"/>.</summary>
    public IReadOnlyList<string> PodmanArguments(string name, string network)
    {
        var a = new List<string> { "run", "--detach", "--name", name, "--network", network, "--ip", Ip };
        if (User is not null)
        {
            a.AddRange(["--user", User]);
        }

        if (ReadOnlyRoot)
        {
            a.Add("--read-only");
        }

        a.AddRange(CapDrop.SelectMany(c => new[] { "--cap-drop", c }));
        a.AddRange(CapAdd.SelectMany(c => new[] { "--cap-add", c }));
        if (NoNewPrivileges)
        {
            a.AddRange(["--security-opt", "no-new-privileges"]);
        }

        foreach (var m in Mounts)
        {
            a.AddRange(m.HostPath is null
                ? ["--tmpfs", m.Path]
                : ["--volume", $"{m.HostPath}:{m.Path}:{(m.ReadOnly ? "ro" : "rw")}"]);
        }

        foreach (var (k, v) in Env.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            a.AddRange(["--env", $"{k}={v}"]);
        }

        if (Entrypoint.Count > 0)
        {
            // podman takes the entry point as a JSON array; the first element is the program.
            a.AddRange(["--entrypoint", System.Text.Json.JsonSerializer.Serialize(Entrypoint)]);
        }

        a.Add(Image);
        a.AddRange(Args);
        return a;
    }

    /// <summary>A probe's port: a number, or the name of one of the container's ports.</summary>
    public static int PortOf(IntOrString port, V1Container c)
    {
        ArgumentNullException.ThrowIfNull(port);
        ArgumentNullException.ThrowIfNull(c);
        return int.TryParse(port.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : c.Ports.Single(p => p.Name == port.Value).ContainerPort;
    }
}
