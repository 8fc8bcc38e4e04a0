using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using DotNet.Testcontainers.Networks;
using k8s;
using k8s.Models;
using MoeCloud.Cli.Cluster;
using MoeCloud.Client;
using MoeCloud.Gateway.Security;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Operator.Tests.EndToEnd;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Testing;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// MoeCloud's real images (infra/images/build.sh) in podman under Testcontainers: Redis, the operator's container
/// against the in-process API server, and the 3 silo pods and the gateway pod started from exactly the StatefulSet and
/// Deployment the operator wrote there (image, arguments, environment, volumes, user, security context, probes). The
/// test plays only the kubelet: it starts those containers on a network it created, runs their probes, and reports the
/// StatefulSet ready.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class RealImagesTests
{
    private const string AdminKey = "operator-admin-key";
    private const string ClientKey = "client-key";
    private const string ModelPath = "/models/tiny";

    [ContainerFact]
    public async Task OperatorSilosAndGateway_InRealContainers_ReconcileReportReadinessAndServeTheReference()
    {
        using var temp = new TempDirectory();
        var modelDir = temp.Combine("tiny");
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(modelDir, spec, vocab, new SyntheticModelOptions { Seed = 11 });
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));

        var cleanup = new Stack<IAsyncDisposable>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            var engine = await PodmanService.StartAsync();
            cleanup.Push(engine);

            // A network of the test's own, with fixed addresses: pod IPs must be known before the containers start.
            var subnet = $"10.{200 + (Environment.ProcessId % 50)}.{Environment.ProcessId / 50 % 250}";
            var network = new NetworkBuilder()
                .WithDockerEndpoint(engine.Endpoint.ToString())
                .WithName($"moecloud-test-{Guid.NewGuid().ToString("N")[..8]}")
                .WithCreateParameterModifier(p => p.IPAM = new IPAM { Config = [new IPAMConfig { Subnet = subnet + ".0/24", Gateway = subnet + ".1" }] })
                .WithCleanUp(false)
                .Build();
            await network.CreateAsync();
            cleanup.Push(new NetworkRemoval(network));
            var redisIp = subnet + ".2";
            var gatewayIp = subnet + ".10";
            var redis = Start(new ContainerBuilder(ContainerImages.Redis)
                .WithDockerEndpoint(engine.Endpoint.ToString())
                .WithName($"moecloud-test-redis-{Guid.NewGuid().ToString("N")[..8]}")
                .WithNetwork(network)
                .WithCommand("redis-server", "--port", "6379", "--save", "", "--appendonly", "no", "--protected-mode", "no")
                .WithCleanUp(false)
                .WithCreateParameterModifier(p =>
                {
                    (p.HostConfig ??= new HostConfig()).ReadonlyRootfs = true;
                    (p.HostConfig ??= new HostConfig()).CapDrop = ["ALL"];
                    (p.NetworkingConfig ??= new NetworkingConfig()).EndpointsConfig[network.Name].IPAMConfig = new EndpointIPAMConfig { IPv4Address = redisIp };
                })
                .Build(), cleanup);
            await redis.StartAsync();

            // The API server: HTTP on loopback for the operator (host network, a kubeconfig), HTTPS on the network's
            // gateway address for the silos' in-cluster client (Orleans' Kubernetes hosting reads and labels its pod).
            using var certificate = SelfSigned(IPAddress.Parse(subnet + ".1"));
            var api = await KubeApiServer.StartAsync(IPAddress.Parse(subnet + ".1"), certificate);
            cleanup.Push(api);
            api.InstallCrds(RepoPaths.CrdFiles);
            using var client = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Url.ToString() });
            var resources = new CustomResourceClient(client);

            var keys = new Dictionary<string, string>
            {
                ["MoeCloud__Gateway__AdminKeys__0__Name"] = "operator",
                ["MoeCloud__Gateway__AdminKeys__0__Sha256"] = ApiKeyAuthenticator.Hash(AdminKey),
                ["MoeCloud__Gateway__ApiKeys__0__Name"] = "client",
                ["MoeCloud__Gateway__ApiKeys__0__Sha256"] = ApiKeyAuthenticator.Hash(ClientKey),
                ["MoeCloud__Gateway__ApiKeys__0__RequestsPerSecond"] = "10000",
            };
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = "web" + Workloads.GatewayKeysSuffix, NamespaceProperty = "default" },
                Data = keys.ToDictionary(k => k.Key, k => Encoding.UTF8.GetBytes(k.Value)),
            }, "default");
            var model = Scenario.Model("tiny", layers: spec.MoeLayers, experts: spec.Experts, topK: spec.TopK);
            model.Spec.Architecture.HiddenSize = spec.Hidden;
            model.Spec.Architecture.MoeIntermediateSize = spec.ExpertIntermediate;
            model.Spec.Architecture.SharedExperts = spec.SharedExperts;
            model.Spec.Weights.Path = ModelPath;
            model.Spec.Weights.ClaimName = "tiny-weights";

            // The operator's container, configured as the chart configures it (charts/moecloud/templates/deployment.yaml).
            var kubeconfig = api.WriteKubeconfig(temp.Combine("kubeconfig"), token: "test-token");
            var operatorPort = MoeCloud.Runtime.Hosting.FreePorts.Take(1)[0];
            var op = Start(new ContainerBuilder(ContainerImages.Operator)
                .WithDockerEndpoint(engine.Endpoint.ToString())
                .WithName($"moecloud-test-operator-{Guid.NewGuid().ToString("N")[..8]}")
                .WithEnvironment(new Dictionary<string, string>
                {
                    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{operatorPort}",
                    // The operator reads $HOME/.kube/config outside a cluster.
                    ["HOME"] = "/kube",
                    ["POD_NAME"] = "moecloud-operator-0",
                    ["POD_NAMESPACE"] = "default",
                    ["Operator__SiloImage"] = ContainerImages.Silo,
                    ["Operator__GatewayImage"] = ContainerImages.Gateway,
                    ["Operator__SiloServiceAccount"] = "moecloud-silo",
                    ["Operator__AdminEndpointTemplate"] = $"http://{gatewayIp}:{Workloads.GatewayHttpPort}/",
                    ["Operator__AdminApiKey"] = AdminKey,
                    ["Operator__MembershipRedis"] = $"{redisIp}:6379",
                    ["Operator__ProgressPollSeconds"] = "1",
                })
                .WithBindMount(kubeconfig, "/kube/.kube/config", DotNet.Testcontainers.Configurations.AccessMode.ReadOnly)
                .WithBindMount(modelDir, ModelPath, DotNet.Testcontainers.Configurations.AccessMode.ReadOnly)
                .WithTmpfsMount("/tmp")
                .WithCleanUp(false)
                .WithCreateParameterModifier(p =>
                {
                    p.User = "65532:65532";
                    (p.HostConfig ??= new HostConfig()).NetworkMode = "host";
                    (p.HostConfig ??= new HostConfig()).ReadonlyRootfs = true;
                    (p.HostConfig ??= new HostConfig()).CapDrop = ["ALL"];
                    (p.HostConfig ??= new HostConfig()).SecurityOpt = ["no-new-privileges"];
                })
                .Build(), cleanup);
            await op.StartAsync();
            await WaitHttpAsync(http, new Uri($"http://127.0.0.1:{operatorPort}/readyz"), op);

            await resources.CreateAsync(MoeCloudApi.MoeModels, "default", model, CancellationToken.None);
            await resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", Scenario.Deployment("web", "tiny", replicas: 3), CancellationToken.None);
            var silo = await Eventually.WaitAsync(() => Read(() => client.AppsV1.ReadNamespacedStatefulSetAsync("web-silo", "default")), s => s.Spec.Replicas == 3, "silo StatefulSet at 3");
            var gatewayDeployment = await Eventually.WaitAsync(() => Read(() => client.AppsV1.ReadNamespacedDeploymentAsync("web-gateway", "default")), _ => true, "gateway Deployment");
            var config = await Eventually.WaitAsync(() => Read(() => client.CoreV1.ReadNamespacedConfigMapAsync("web-config", "default")), _ => true, "config ConfigMap");
            var checkedModel = await resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, "default", "tiny", CancellationToken.None);
            Assert.True(checkedModel!.Status!.ConfigChecked, "the operator's container read the model's config.json");

            // What the kubelet would give the pods: the ConfigMap's files, the weights claim, a service account token.
            var configDir = temp.Combine("config");
            Directory.CreateDirectory(configDir);
            foreach (var (name, text) in config.Data)
            {
                await File.WriteAllTextAsync(Path.Combine(configDir, name), text);
            }

            var accountDir = temp.Combine("serviceaccount");
            Directory.CreateDirectory(accountDir);
            await File.WriteAllTextAsync(Path.Combine(accountDir, "token"), "test-token");
            await File.WriteAllTextAsync(Path.Combine(accountDir, "namespace"), "default");
            await File.WriteAllTextAsync(Path.Combine(accountDir, "ca.crt"), certificate.ExportCertificatePem());
            var https = api.HttpsUrl!;
            var kubeletEnv = new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = https.Host, ["KUBERNETES_SERVICE_PORT"] = https.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var volumes = new Dictionary<string, string> { ["config"] = configDir, ["weights"] = modelDir };
            // The operator wrote the hash of its admin key into web-operator-key, which the gateway also reads.
            var operatorKey = await client.CoreV1.ReadNamespacedSecretAsync("web" + Workloads.OperatorKeySuffix, "default");
            var secrets = new Dictionary<string, IReadOnlyDictionary<string, string>>
            {
                ["web" + Workloads.GatewayKeysSuffix] = keys,
                ["web" + Workloads.OperatorKeySuffix] = operatorKey.Data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal),
            };

            var siloTemplate = silo.Spec.Template;
            var siloContainer = siloTemplate.Spec.Containers.Single();
            var siloIps = new List<string>();
            var silos = new List<IContainer>();
            for (var i = 0; i < 3; i++)
            {
                var name = $"web-silo-{i}";
                var ip = $"{subnet}.{20 + i}";
                await client.CoreV1.CreateNamespacedPodAsync(new V1Pod
                {
                    Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Labels = siloTemplate.Metadata.Labels },
                    Spec = siloTemplate.Spec,
                    Status = new V1PodStatus { PodIP = ip, Phase = "Running" },
                }, "default");
                var container = Start(PodContainers.Build(engine.Endpoint, siloTemplate.Spec, siloContainer,
                    new PodSite(name, "default", ip, network, secrets, volumes, accountDir, kubeletEnv)), cleanup);
                await container.StartAsync();
                siloIps.Add(ip);
                silos.Add(container);
            }

            var gatewayTemplate = gatewayDeployment.Spec.Template;
            var gatewayContainer = gatewayTemplate.Spec.Containers.Single();
            var gateway = Start(PodContainers.Build(engine.Endpoint, gatewayTemplate.Spec, gatewayContainer,
                new PodSite("web-gateway-0", "default", gatewayIp, network, secrets, volumes, null, kubeletEnv)), cleanup);
            await gateway.StartAsync();

            // Started (the startup probes pass), but no plan yet: every /readyz answers 503.
            for (var i = 0; i < 3; i++)
            {
                await PodContainers.WaitForAsync(siloContainer.StartupProbe, siloContainer, siloIps[i], silos[i], http);
            }

            await PodContainers.WaitForAsync(gatewayContainer.StartupProbe, gatewayContainer, gatewayIp, gateway, http);
            Assert.Equal(200, await PodContainers.StatusAsync(gatewayContainer.LivenessProbe, gatewayContainer, gatewayIp, http));
            Assert.Equal(503, await PodContainers.StatusAsync(gatewayContainer.ReadinessProbe, gatewayContainer, gatewayIp, http));
            foreach (var ip in siloIps)
            {
                Assert.Equal(503, await PodContainers.StatusAsync(siloContainer.ReadinessProbe, siloContainer, ip, http));
            }

            // The kubelet reports the StatefulSet's pods; the operator publishes plan 1 through the gateway's admin API.
            api.MarkWorkloadReady("apps", "statefulsets", "default", "web-silo");
            var ready = await Eventually.WaitAsync(() => resources.GetAsync<MoeDeployment>(MoeCloudApi.MoeDeployments, "default", "web", CancellationToken.None),
                d => d.Status?.Phase == "Ready" && d.Status.CurrentPlanVersion == 1, "web ready on plan v1", TimeSpan.FromMinutes(3));
            Assert.Equal(1, ready.Status!.CurrentPlanVersion);

            // With the plan active, every readiness probe passes within its own bound.
            await PodContainers.WaitForAsync(gatewayContainer.ReadinessProbe, gatewayContainer, gatewayIp, gateway, http);
            for (var i = 0; i < 3; i++)
            {
                await PodContainers.WaitForAsync(siloContainer.ReadinessProbe, siloContainer, siloIps[i], silos[i], http);
            }

            // Requests through the gateway container equal the single-process reference.
            using var moe = new MoeCloudClient(new Uri($"http://{gatewayIp}:{Workloads.GatewayGrpcPort}"), new MoeCloudClientOptions { ApiKey = ClientKey });
            var rng = new Random(1);
            var homes = new HashSet<int>();
            for (var r = 0; r < 4; r++)
            {
                var input = Enumerable.Range(0, 8 * spec.Hidden).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
                var output = await moe.ForwardAsync("tiny", input, 8, spec.Hidden, 0, spec.MoeLayers - 1);
                var expected = reference.ForwardStack(0, spec.MoeLayers - 1, input, 8);
                var error = ResultError.MaxRelative(expected, output.Hidden); // max |Δ| / max |reference|, as every other check of a result
                Assert.True(error <= 1e-4, $"request {r}: max relative error {error}");
                homes.UnionWith(output.HomePods);
            }

            Assert.Subset(new HashSet<int> { 0, 1, 2 }, homes);
        }
        finally
        {
            while (cleanup.TryPop(out var d))
            {
                await d.DisposeAsync();
            }
        }
    }

    /// <summary>Removes <paramref name="container"/> (by its id) when the test ends, whatever happens.</summary>
    private static IContainer Start(IContainer container, Stack<IAsyncDisposable> cleanup)
    {
        cleanup.Push(new Removal(container));
        return container;
    }

    private sealed class Removal(IContainer container) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            var id = container.Id;
            await container.DisposeAsync();
            if (!string.IsNullOrEmpty(id))
            {
                ContainerImages.Run("podman", "rm", "--force", "--time", "0", id);
            }
        }
    }

    private static async Task<T?> Read<T>(Func<Task<T>> read)
        where T : class
    {
        try
        {
            return await read();
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static async Task WaitHttpAsync(HttpClient http, Uri url, IContainer container)
    {
        for (var i = 0; i < 120 && container.State is not (TestcontainersStates.Exited or TestcontainersStates.Dead); i++)
        {
            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(500);
        }

        var (stdout, stderr) = await container.GetLogsAsync();
        throw new TimeoutException($"{url} never answered 2xx in 60 s; logs:\n{stdout}\n{stderr}");
    }

    private sealed class NetworkRemoval(INetwork network) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await network.DisposeAsync();
            ContainerImages.Run("podman", "network", "rm", "--force", network.Name);
        }
    }

    /// <summary>A self-signed server certificate for <paramref name="address"/>, which is also its own CA (the service account's ca.crt).</summary>
    private static X509Certificate2 SelfSigned(IPAddress address)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=kubernetes", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(address);
        san.AddDnsName("kubernetes.default.svc");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }
}
