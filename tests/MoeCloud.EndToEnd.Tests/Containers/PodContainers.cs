using System.Globalization;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using k8s.Models;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>Where one pod runs: its name and IP, and what the kubelet would resolve for it (Secrets, volumes, the API server).</summary>
/// <param name="Name">metadata.name</param>
/// <param name="Namespace">metadata.namespace</param>
/// <param name="Ip">status.podIP: a fixed address on <paramref name="Network"/>.</param>
/// <param name="Network">The network the test created for the pods.</param>
/// <param name="Secrets">Secret name → its entries, for <c>envFrom.secretRef</c>.</param>
/// <param name="Volumes">Volume name → host directory, for configMap and persistentVolumeClaim volumes.</param>
/// <param name="ServiceAccount">Host directory mounted at the service account path when the pod automounts a token; the API server's address in <paramref name="KubeletEnv"/>.</param>
/// <param name="KubeletEnv">What the kubelet adds to every container (<c>KUBERNETES_SERVICE_HOST</c>, <c>KUBERNETES_SERVICE_PORT</c>).</param>
internal sealed record PodSite(
    string Name,
    string Namespace,
    string Ip,
    INetwork Network,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Secrets,
    IReadOnlyDictionary<string, string> Volumes,
    string? ServiceAccount,
    IReadOnlyDictionary<string, string> KubeletEnv);

/// <summary>
/// Plays the kubelet for one container of a pod template the operator rendered: the image, arguments, environment
/// (field references and Secrets resolved), volumes, user and security context go to podman as they are, and the
/// container's probes are run against it. Nothing here restates what the operator configures.
/// </summary>
internal static class PodContainers
{
    private const string ServiceAccountPath = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static IContainer Build(Uri engine, V1PodSpec pod, V1Container c, PodSite site)
    {
        var env = new Dictionary<string, string>(site.KubeletEnv);
        foreach (var from in c.EnvFrom ?? [])
        {
            var secret = site.Secrets.GetValueOrDefault(from.SecretRef?.Name ?? "")
                ?? throw new InvalidOperationException($"container {c.Name}: envFrom names no Secret the test holds ({from.SecretRef?.Name})");
            foreach (var (k, v) in secret)
            {
                env[k] = v;
            }
        }

        foreach (var e in c.Env ?? [])
        {
            env[e.Name] = e.Value ?? e.ValueFrom?.FieldRef?.FieldPath switch
            {
                "metadata.name" => site.Name,
                "metadata.namespace" => site.Namespace,
                "status.podIP" => site.Ip,
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

        var builder = new ContainerBuilder(c.Image)
            .WithDockerEndpoint(engine.ToString())
            .WithName($"moecloud-test-{site.Name}-{Guid.NewGuid().ToString("N")[..8]}")
            .WithNetwork(site.Network)
            .WithEnvironment(env)
            .WithCleanUp(false);
        if (c.Command is { Count: > 0 })
        {
            builder = builder.WithEntrypoint([.. c.Command]);
        }

        if (c.Args is { Count: > 0 })
        {
            builder = builder.WithCommand([.. c.Args]);
        }

        foreach (var mount in c.VolumeMounts ?? [])
        {
            var volume = (pod.Volumes ?? []).Single(v => v.Name == mount.Name);
            if (volume.EmptyDir is not null)
            {
                builder = builder.WithTmpfsMount(mount.MountPath, AccessMode.ReadWrite);
            }
            else
            {
                var host = site.Volumes.GetValueOrDefault(mount.Name)
                    ?? throw new InvalidOperationException($"container {c.Name}: no host directory for volume {mount.Name}");
                builder = builder.WithBindMount(host, mount.MountPath, mount.ReadOnlyProperty == true ? AccessMode.ReadOnly : AccessMode.ReadWrite);
            }
        }

        if (pod.AutomountServiceAccountToken == true)
        {
            var dir = site.ServiceAccount ?? throw new InvalidOperationException($"pod {site.Name} mounts a service account token, but the test holds none");
            builder = builder.WithBindMount(dir, ServiceAccountPath, AccessMode.ReadOnly);
        }

        var networkName = site.Network.Name;
        return builder.WithCreateParameterModifier(p =>
        {
            p.User = group is null ? $"{user}" : $"{user}:{group}";
            (p.HostConfig ??= new HostConfig()).ReadonlyRootfs = security.ReadOnlyRootFilesystem == true;
            (p.HostConfig ??= new HostConfig()).CapDrop = security.Capabilities?.Drop ?? [];
            (p.HostConfig ??= new HostConfig()).CapAdd = security.Capabilities?.Add ?? [];
            (p.HostConfig ??= new HostConfig()).SecurityOpt = security.AllowPrivilegeEscalation == false ? ["no-new-privileges"] : [];
            (p.NetworkingConfig ??= new NetworkingConfig()).EndpointsConfig[networkName].IPAMConfig = new EndpointIPAMConfig { IPv4Address = site.Ip };
        }).Build();
    }

    /// <summary>
    /// Runs an HTTP probe as the kubelet does, until it succeeds (2xx or 3xx): at most FailureThreshold × PeriodSeconds,
    /// polled every half second. Throws, with the container's logs, when the time is up or the container has exited.
    /// </summary>
    public static async Task WaitForAsync(V1Probe probe, V1Container c, string ip, IContainer container, HttpClient http)
    {
        var port = PortOf(probe.HttpGet.Port, c);
        var url = new Uri($"http://{ip}:{port}{probe.HttpGet.Path}");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds((probe.PeriodSeconds ?? 10) * (probe.FailureThreshold ?? 3));
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            if (container.State is TestcontainersStates.Exited or TestcontainersStates.Dead)
            {
                break;
            }

            try
            {
                using var response = await http.GetAsync(url);
                if ((int)response.StatusCode is >= 200 and < 400)
                {
                    return;
                }

                last = $"{(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // A probe that times out fails, as the kubelet counts it; the next period probes again.
                last = e.Message;
            }

            await Task.Delay(500);
        }

        var (stdout, stderr) = await container.GetLogsAsync();
        throw new TimeoutException($"{c.Name} probe {url} never passed ({last}; container {container.State}); logs:\n{stdout}\n{stderr}");
    }

    /// <summary>GET of the probe's path and port once; the status code (0 when nothing answered).</summary>
    public static async Task<int> StatusAsync(V1Probe probe, V1Container c, string ip, HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync(new Uri($"http://{ip}:{PortOf(probe.HttpGet.Port, c)}{probe.HttpGet.Path}"));
            return (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    /// <summary>A probe's port: a number, or the name of one of the container's ports.</summary>
    public static int PortOf(IntOrString port, V1Container c) =>
        int.TryParse(port.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : c.Ports.Single(p => p.Name == port.Value).ContainerPort;
}
