using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using k8s.Models;
using MoeCloud.Cli.Cluster;

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
/// Plays the kubelet for one container of a pod template the operator rendered: moectl's <see cref="PodRun"/> resolves
/// the image, arguments, environment (field references and Secrets), volumes, user and security context, which go to
/// Testcontainers as they are, and the container's probes are run against it. Nothing here restates what the operator
/// configures.
/// </summary>
internal static class PodContainers
{
    public static IContainer Build(Uri engine, V1PodSpec pod, V1Container c, PodSite site)
    {
        var run = PodRun.From(pod, c, new PodPlace(site.Name, site.Namespace, site.Ip, site.Secrets, site.Volumes, site.ServiceAccount, site.KubeletEnv));
        var builder = new ContainerBuilder(run.Image)
            .WithDockerEndpoint(engine.ToString())
            .WithName($"moecloud-test-{site.Name}-{Guid.NewGuid().ToString("N")[..8]}")
            .WithNetwork(site.Network)
            .WithEnvironment(run.Env)
            .WithCleanUp(false);
        if (run.Entrypoint.Count > 0)
        {
            builder = builder.WithEntrypoint([.. run.Entrypoint]);
        }

        if (run.Args.Count > 0)
        {
            builder = builder.WithCommand([.. run.Args]);
        }

        foreach (var mount in run.Mounts)
        {
            builder = mount.HostPath is null
                ? builder.WithTmpfsMount(mount.Path, AccessMode.ReadWrite)
                : builder.WithBindMount(mount.HostPath, mount.Path, mount.ReadOnly ? AccessMode.ReadOnly : AccessMode.ReadWrite);
        }

        var networkName = site.Network.Name;
        return builder.WithCreateParameterModifier(p =>
        {
            p.User = run.User ?? "";
            (p.HostConfig ??= new HostConfig()).ReadonlyRootfs = run.ReadOnlyRoot;
            (p.HostConfig ??= new HostConfig()).CapDrop = [.. run.CapDrop];
            (p.HostConfig ??= new HostConfig()).CapAdd = [.. run.CapAdd];
            (p.HostConfig ??= new HostConfig()).SecurityOpt = run.NoNewPrivileges ? ["no-new-privileges"] : [];
            (p.NetworkingConfig ??= new NetworkingConfig()).EndpointsConfig[networkName].IPAMConfig = new EndpointIPAMConfig { IPv4Address = run.Ip };
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
    public static int PortOf(IntOrString port, V1Container c) => PodRun.PortOf(port, c);
}
