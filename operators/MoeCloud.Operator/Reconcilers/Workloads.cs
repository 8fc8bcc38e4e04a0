using System.Text.Json;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// The objects a MoeDeployment owns: the silo StatefulSet and its headless Service, the gateway Deployment, its
/// client and admin Services, and the configuration ConfigMap (see <see cref="ScalingObjects"/> for the PDB and HPA). Pure functions of the spec.
/// </summary>
public static class Workloads
{
    public const int SiloPort = 11111;
    public const int SiloGatewayPort = 30000;
    public const int RunnerPort = 5100;
    public const int OpsPort = 9100;

    /// <summary>The gateway's gRPC port (<c>MoeCloud:Gateway:GrpcPort</c>), on its pods and its Service.</summary>
    public const int GatewayGrpcPort = 5000;

    /// <summary>
    /// The gateway's HTTP port (<c>MoeCloud:Gateway:HttpPort</c>: JSON API, admin API, <c>/healthz</c>, <c>/readyz</c>,
    /// <c>/metrics</c>), on its pods and its Service; <see cref="OperatorOptions.AdminEndpointTemplate"/> points here.
    /// </summary>
    public const int GatewayHttpPort = 8080;

    /// <summary>
    /// Suffix of the Secret (in the deployment's namespace, created by the user) whose entries become the gateway's
    /// environment: <c>MoeCloud__Gateway__AdminKeys__0__Sha256</c>, <c>MoeCloud__Gateway__ApiKeys__0__Sha256</c>, ….
    /// </summary>
    public const string GatewayKeysSuffix = "-gateway-keys";
    public const string ExpertsReadyGate = "moecloud.io/experts-ready";
    private const int RunAsUser = 65532;

    public static string SiloName(MoeDeployment d) => d.Metadata.Name + "-silo";

    public static string GatewayName(MoeDeployment d) => d.Metadata.Name + "-gateway";

    /// <summary>The gateway's admin Service, which the operator's default <see cref="OperatorOptions.AdminEndpointTemplate"/> names.</summary>
    public static string GatewayAdminName(MoeDeployment d) => d.Metadata.Name + "-gateway-admin";

    public static string ConfigName(MoeDeployment d) => d.Metadata.Name + "-config";

    /// <summary>The Secret holding the gateway's admin and client API key hashes (see <see cref="GatewayKeysSuffix"/>).</summary>
    public static string GatewayKeysName(MoeDeployment d) => d.Metadata.Name + GatewayKeysSuffix;

    public static Dictionary<string, string> Labels(MoeDeployment d, string component) => new()
    {
        ["app.kubernetes.io/name"] = "moecloud",
        ["app.kubernetes.io/instance"] = d.Metadata.Name,
        [MoeCloudApi.ComponentLabel] = component,
        [MoeCloudApi.ManagedByLabel] = MoeCloudApi.ManagedByValue,
        [MoeCloudApi.DeploymentLabel] = d.Metadata.Name,
    };

    private static Dictionary<string, string> SiloPodLabels(MoeDeployment d) => new(Labels(d, "silo"))
    {
        ["orleans/serviceId"] = d.Metadata.Name,
        ["orleans/clusterId"] = d.Metadata.Name,
    };

    /// <summary>The silo pods' label selector, as the scale subresource reports it to an HPA.</summary>
    public static string SiloSelector(MoeDeployment d) =>
        $"{MoeCloudApi.DeploymentLabel}={d.Metadata.Name},{MoeCloudApi.ComponentLabel}=silo";

    internal static Dictionary<string, string> Selector(MoeDeployment d, string component) => new()
    {
        [MoeCloudApi.DeploymentLabel] = d.Metadata.Name,
        [MoeCloudApi.ComponentLabel] = component,
    };

    internal static V1ObjectMeta Meta(MoeDeployment d, string name, string component) => new()
    {
        Name = name,
        NamespaceProperty = d.Metadata.NamespaceProperty,
        Labels = Labels(d, component),
        OwnerReferences = [CustomResourceClient.OwnerReference(d)],
    };

    public static V1ConfigMap Config(MoeDeployment d, MoeModel model) => new()
    {
        ApiVersion = "v1",
        Kind = "ConfigMap",
        Metadata = Meta(d, ConfigName(d), "config"),
        Data = new Dictionary<string, string>
        {
            ["model.json"] = JsonSerializer.Serialize(model.Spec),
            ["deployment.json"] = JsonSerializer.Serialize(new { deployment = d.Metadata.Name, d.Spec.Migration, d.Spec.Placement }),
        },
    };

    public static V1Service SiloService(MoeDeployment d) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(d, SiloName(d), "silo"),
        Spec = new V1ServiceSpec
        {
            ClusterIP = "None",
            PublishNotReadyAddresses = true,
            Selector = Selector(d, "silo"),
            Ports =
            [
                new V1ServicePort { Name = "silo", Port = SiloPort, TargetPort = SiloPort },
                new V1ServicePort { Name = "orleans-gateway", Port = SiloGatewayPort, TargetPort = SiloGatewayPort },
                new V1ServicePort { Name = "runner", Port = RunnerPort, TargetPort = RunnerPort },
            ],
        },
    };

    public static V1Service GatewayService(MoeDeployment d) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(d, GatewayName(d), "gateway"),
        Spec = new V1ServiceSpec
        {
            Selector = Selector(d, "gateway"),
            Ports =
            [
                new V1ServicePort { Name = "grpc", Port = GatewayGrpcPort, TargetPort = "grpc", AppProtocol = "kubernetes.io/h2c" },
                new V1ServicePort { Name = "http", Port = GatewayHttpPort, TargetPort = "http", AppProtocol = "http" },
            ],
        },
    };

    /// <summary>
    /// The Service the operator reaches the admin API through: the gateway pods' HTTP port, including pods that are not
    /// ready. A gateway reports ready only once a plan is live, and the operator publishes the first plan through this
    /// Service, so it must not wait for readiness (the client-facing <see cref="GatewayService"/> does).
    /// </summary>
    public static V1Service GatewayAdminService(MoeDeployment d) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(d, GatewayAdminName(d), "gateway"),
        Spec = new V1ServiceSpec
        {
            Selector = Selector(d, "gateway"),
            PublishNotReadyAddresses = true,
            Ports = [new V1ServicePort { Name = "http", Port = GatewayHttpPort, TargetPort = "http", AppProtocol = "http" }],
        },
    };

    /// <summary>The silo StatefulSet with <paramref name="replicas"/> pods (the larger of spec.replicas and the pods the plans still use).</summary>
    public static V1StatefulSet Silo(MoeDeployment d, MoeModel model, int replicas, OperatorOptions options)
    {
        var r = d.Spec.Resources;
        var requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(r.Cpu), ["memory"] = new(r.Memory) };
        var limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new(r.Memory) };
        if (!string.IsNullOrEmpty(r.AcceleratorResource) && r.AcceleratorsPerPod > 0)
        {
            requests[r.AcceleratorResource] = new ResourceQuantity(r.AcceleratorsPerPod.ToString(System.Globalization.CultureInfo.InvariantCulture));
            limits[r.AcceleratorResource] = requests[r.AcceleratorResource];
        }

        var mounts = new List<V1VolumeMount>
        {
            new() { Name = "config", MountPath = "/etc/moecloud", ReadOnlyProperty = true },
            new() { Name = "tmp", MountPath = "/tmp" },
        };
        var volumes = new List<V1Volume>
        {
            new() { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = ConfigName(d) } },
            new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() },
        };
        AddWeights(model, mounts, volumes);

        var container = new V1Container
        {
            Name = "silo",
            Image = string.IsNullOrEmpty(d.Spec.SiloImage) ? options.SiloImage : d.Spec.SiloImage,
            // The silo's own configuration (MoeCloud:Silo, see src/MoeCloud.Runtime/Hosting/MoeCloudSiloOptions.cs) and
            // what Orleans' Kubernetes hosting reads (POD_*, ORLEANS_*; the pod labels orleans/serviceId, orleans/clusterId).
            Env =
            [
                new V1EnvVar { Name = "MoeCloud__Silo__Clustering", Value = "Kubernetes" },
                new V1EnvVar { Name = "MoeCloud__Silo__ServiceId", Value = d.Metadata.Name },
                new V1EnvVar { Name = "MoeCloud__Silo__ClusterId", Value = d.Metadata.Name },
                new V1EnvVar { Name = "MoeCloud__Silo__RunnerPort", Value = RunnerPort.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                new V1EnvVar { Name = "MoeCloud__Silo__OpsPort", Value = OpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                new V1EnvVar { Name = $"MoeCloud__Silo__Models__{model.Metadata.Name}", Value = model.Spec.Weights.Path },
                new V1EnvVar { Name = "ORLEANS_SERVICE_ID", Value = d.Metadata.Name },
                new V1EnvVar { Name = "ORLEANS_CLUSTER_ID", Value = d.Metadata.Name },
                FieldEnv("POD_NAME", "metadata.name"),
                FieldEnv("POD_NAMESPACE", "metadata.namespace"),
                FieldEnv("POD_IP", "status.podIP"),
                .. (string.IsNullOrEmpty(options.MembershipRedis) ? Array.Empty<V1EnvVar>() : [new V1EnvVar { Name = "MoeCloud__Silo__RedisConnectionString", Value = options.MembershipRedis }]),
            ],
            Ports =
            [
                new V1ContainerPort { Name = "silo", ContainerPort = SiloPort },
                new V1ContainerPort { Name = "orleans-gateway", ContainerPort = SiloGatewayPort },
                new V1ContainerPort { Name = "runner", ContainerPort = RunnerPort },
                new V1ContainerPort { Name = "ops", ContainerPort = OpsPort },
            ],
            Resources = new V1ResourceRequirements { Requests = requests, Limits = limits },
            ReadinessProbe = Probe("/readyz", OpsPort),
            LivenessProbe = Probe("/healthz", OpsPort),
            StartupProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = OpsPort }, PeriodSeconds = 10, FailureThreshold = 60 },
            SecurityContext = ContainerSecurity(),
            VolumeMounts = mounts,
        };
        return new V1StatefulSet
        {
            ApiVersion = "apps/v1",
            Kind = "StatefulSet",
            Metadata = Meta(d, SiloName(d), "silo"),
            Spec = new V1StatefulSetSpec
            {
                Replicas = replicas,
                ServiceName = SiloName(d),
                PodManagementPolicy = "Parallel",
                Selector = new V1LabelSelector { MatchLabels = Selector(d, "silo") },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = SiloPodLabels(d) },
                    Spec = new V1PodSpec
                    {
                        // Orleans' Kubernetes hosting watches pods, so the silos run under a ServiceAccount that may.
                        ServiceAccountName = string.IsNullOrEmpty(options.SiloServiceAccount) ? null : options.SiloServiceAccount,
                        AutomountServiceAccountToken = !string.IsNullOrEmpty(options.SiloServiceAccount),
                        EnableServiceLinks = false,
                        TerminationGracePeriodSeconds = d.Spec.Migration.DrainSeconds + 30,
                        ReadinessGates = [new V1PodReadinessGate { ConditionType = ExpertsReadyGate }],
                        SecurityContext = PodSecurity(),
                        TopologySpreadConstraints =
                        [
                            Spread(d, "kubernetes.io/hostname"),
                            Spread(d, "topology.kubernetes.io/zone"),
                        ],
                        Containers = [container],
                        Volumes = volumes,
                    },
                },
            },
        };
    }

    /// <summary>
    /// The gateway Deployment: <c>moectl gateway</c> (the gateway image's entry point is moectl) joined to the silos'
    /// Orleans cluster through the same Redis membership store, cluster id and service id, configured through
    /// <c>MoeCloud__Gateway__*</c> (src/MoeCloud.Gateway/Hosting/GatewayOptions.cs): bound to all interfaces, gRPC on
    /// <see cref="GatewayGrpcPort"/>, HTTP (JSON, admin API, probes) on <see cref="GatewayHttpPort"/>, the model's
    /// checkpoint directory (the gateway reads the first MoE layer's gate), and the silo pods by their StatefulSet
    /// names. API key hashes come from the Secret <see cref="GatewayKeysName"/>, whose entries become environment variables.
    /// </summary>
    public static V1Deployment Gateway(MoeDeployment d, MoeModel model, OperatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var mounts = new List<V1VolumeMount> { new() { Name = "tmp", MountPath = "/tmp" } };
        var volumes = new List<V1Volume> { new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() } };
        AddWeights(model, mounts, volumes);
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var args = new List<string> { "gateway", "--cluster-id", d.Metadata.Name, "--service-id", d.Metadata.Name };
        if (!string.IsNullOrEmpty(options.MembershipRedis))
        {
            args.InsertRange(1, ["--redis", options.MembershipRedis]);
        }

        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Meta(d, GatewayName(d), "gateway"),
            Spec = new V1DeploymentSpec
            {
                Replicas = d.Spec.Gateway.Replicas,
                Selector = new V1LabelSelector { MatchLabels = Selector(d, "gateway") },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = Labels(d, "gateway") },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        SecurityContext = PodSecurity(),
                        Containers =
                        [
                            new V1Container
                            {
                                Name = "gateway",
                                Image = string.IsNullOrEmpty(d.Spec.GatewayImage) ? options.GatewayImage : d.Spec.GatewayImage,
                                Args = args,
                                Env =
                                [
                                    new V1EnvVar { Name = "MoeCloud__Gateway__BindAddress", Value = "0.0.0.0" },
                                    new V1EnvVar { Name = "MoeCloud__Gateway__GrpcPort", Value = GatewayGrpcPort.ToString(invariant) },
                                    new V1EnvVar { Name = "MoeCloud__Gateway__HttpPort", Value = GatewayHttpPort.ToString(invariant) },
                                    new V1EnvVar { Name = $"MoeCloud__Gateway__Models__{model.Metadata.Name}", Value = model.Spec.Weights.Path },
                                    // No pod list: the gateway follows the Orleans membership it shares with the silos,
                                    // and each silo tells it the runner and ops addresses it serves on (its pod IP).
                                ],
                                // MoeCloud__Gateway__AdminKeys__N__{Name,Sha256} and MoeCloud__Gateway__ApiKeys__N__{Name,Sha256}:
                                // without the Secret the pod does not start, so the gateway never runs with an open API.
                                EnvFrom = [new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = GatewayKeysName(d), Optional = false } }],
                                Ports =
                                [
                                    new V1ContainerPort { Name = "grpc", ContainerPort = GatewayGrpcPort },
                                    new V1ContainerPort { Name = "http", ContainerPort = GatewayHttpPort },
                                ],
                                Resources = new V1ResourceRequirements
                                {
                                    Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("1"), ["memory"] = new("1Gi") },
                                    Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("2Gi") },
                                },
                                ReadinessProbe = Probe("/readyz", GatewayHttpPort),
                                LivenessProbe = Probe("/healthz", GatewayHttpPort),
                                StartupProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = GatewayHttpPort }, PeriodSeconds = 5, FailureThreshold = 60 },
                                SecurityContext = ContainerSecurity(),
                                VolumeMounts = mounts,
                            },
                        ],
                        Volumes = volumes,
                    },
                },
            },
        };
    }

    private static void AddWeights(MoeModel model, List<V1VolumeMount> mounts, List<V1Volume> volumes)
    {
        if (!string.IsNullOrEmpty(model.Spec.Weights.ClaimName))
        {
            mounts.Add(new V1VolumeMount { Name = "weights", MountPath = model.Spec.Weights.Path, ReadOnlyProperty = true });
            volumes.Add(new V1Volume
            {
                Name = "weights",
                PersistentVolumeClaim = new V1PersistentVolumeClaimVolumeSource { ClaimName = model.Spec.Weights.ClaimName, ReadOnlyProperty = true },
            });
        }
    }

    private static V1EnvVar FieldEnv(string name, string path) =>
        new() { Name = name, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = path } } };

    private static V1Probe Probe(string path, int port) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = port },
        PeriodSeconds = 5,
        FailureThreshold = 3,
    };

    private static V1TopologySpreadConstraint Spread(MoeDeployment d, string key) => new()
    {
        MaxSkew = 1,
        TopologyKey = key,
        WhenUnsatisfiable = "ScheduleAnyway",
        LabelSelector = new V1LabelSelector { MatchLabels = Selector(d, "silo") },
    };

    private static V1PodSecurityContext PodSecurity() => new()
    {
        RunAsNonRoot = true,
        RunAsUser = RunAsUser,
        RunAsGroup = RunAsUser,
        FsGroup = RunAsUser,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    private static V1SecurityContext ContainerSecurity() => new()
    {
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = true,
        RunAsNonRoot = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };
}
