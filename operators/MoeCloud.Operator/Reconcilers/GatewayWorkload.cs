using k8s.Models;
using MoeCloud.Contracts.Security;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>The gateway side of a MoeDeployment: the gateway Deployment, its client-facing Service and its admin Service.</summary>
internal static class GatewayWorkload
{
    /// <summary>
    /// The gateway Deployment: <c>moectl gateway</c> (the gateway image's entry point is moectl) joined to the silos'
    /// Orleans cluster through the same Redis membership store, cluster id and service id, configured through
    /// <c>MoeCloud__Gateway__*</c> (src/MoeCloud.Gateway/Hosting/GatewayOptions.cs): bound to all interfaces, gRPC on
    /// <see cref="Workloads.GatewayGrpcPort"/>, HTTP (JSON, admin API, probes) on <see cref="Workloads.GatewayHttpPort"/>,
    /// the model's checkpoint directory (the gateway reads the first MoE layer's gate), and the silo pods by their
    /// StatefulSet names. Client key hashes come from the Secret <see cref="Workloads.GatewayKeysName"/>, and the
    /// operator's admin key hash from <see cref="Workloads.OperatorKeyName"/>; their entries become environment variables.
    /// <paramref name="keysFingerprint"/> (<see cref="KeysSecretState.Fingerprint"/>, null while the Secret is missing)
    /// goes into the pod template as <see cref="GatewayKeySecret.HashAnnotation"/>, so that changed keys roll the pods.
    /// </summary>
    public static V1Deployment Deployment(MoeDeployment d, MoeModel model, OperatorOptions options, string? keysFingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var mounts = new List<V1VolumeMount> { new() { Name = "tmp", MountPath = "/tmp" } };
        var volumes = new List<V1Volume> { new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() } };
        PodParts.AddWeights(model, mounts, volumes);
        var container = Container(d, model, options, mounts);
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Workloads.Meta(d, Workloads.GatewayName(d), "gateway"),
            Spec = new V1DeploymentSpec
            {
                Replicas = d.Spec.Gateway.Replicas,
                Selector = new V1LabelSelector { MatchLabels = Workloads.Selector(d, "gateway") },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = Workloads.Labels(d, "gateway"), Annotations = KeyAnnotations(options, keysFingerprint) },
                    Spec = new V1PodSpec
                    {
                        AutomountServiceAccountToken = false,
                        EnableServiceLinks = false,
                        SecurityContext = PodParts.PodSecurity(),
                        Containers = [container],
                        Volumes = volumes,
                    },
                },
            },
        };
    }

    /// <summary>The client-facing Service: gRPC and HTTP on the gateway pods that are ready.</summary>
    public static V1Service ClientService(MoeDeployment d) =>
        Workloads.Service(d, Workloads.GatewayName(d), "gateway", new V1ServiceSpec
        {
            Selector = Workloads.Selector(d, "gateway"),
            Ports =
            [
                new V1ServicePort { Name = "grpc", Port = Workloads.GatewayGrpcPort, TargetPort = "grpc", AppProtocol = "kubernetes.io/h2c" },
                new V1ServicePort { Name = "http", Port = Workloads.GatewayHttpPort, TargetPort = "http", AppProtocol = "http" },
            ],
        });

    /// <summary>
    /// The Service the operator reaches the admin API through: the gateway pods' HTTP port, including pods that are not
    /// ready. A gateway reports ready only once a plan is live, and the operator publishes the first plan through this
    /// Service, so it must not wait for readiness (the client-facing <see cref="ClientService"/> does).
    /// </summary>
    public static V1Service AdminService(MoeDeployment d) =>
        Workloads.Service(d, Workloads.GatewayAdminName(d), "gateway", new V1ServiceSpec
        {
            Selector = Workloads.Selector(d, "gateway"),
            PublishNotReadyAddresses = true,
            Ports = [new V1ServicePort { Name = "http", Port = Workloads.GatewayHttpPort, TargetPort = "http", AppProtocol = "http" }],
        });

    /// <summary>
    /// A fingerprint of the operator's admin key (the first 16 hex digits of the SHA-256 of its stored hash, which
    /// reveals nothing of either): a new key changes the pod template, so the gateways restart and read the new hash
    /// from <see cref="Workloads.OperatorKeyName"/> (an environment read through <c>envFrom</c> is fixed at start); the
    /// client keys' fingerprint does the same for the keys Secret.
    /// </summary>
    private static Dictionary<string, string>? KeyAnnotations(OperatorOptions options, string? keysFingerprint)
    {
        var annotations = new Dictionary<string, string>();
        if (!string.IsNullOrEmpty(options.AdminApiKey))
        {
            annotations[OperatorKeyAnnotation] = ApiKeys.Hash(ApiKeys.Hash(options.AdminApiKey))[..16];
        }

        if (keysFingerprint is not null)
        {
            annotations[GatewayKeySecret.HashAnnotation] = keysFingerprint;
        }

        return annotations.Count == 0 ? null : annotations;
    }

    /// <summary>The pod-template annotation with the operator key's fingerprint (<see cref="KeyAnnotations"/>).</summary>
    public const string OperatorKeyAnnotation = "moecloud.io/operator-key";

    private static List<V1EnvFromSource> KeySources(MoeDeployment d, OperatorOptions options)
    {
        var sources = new List<V1EnvFromSource> { new() { SecretRef = new V1SecretEnvSource { Name = Workloads.GatewayKeysName(d), Optional = false } } };
        if (!string.IsNullOrEmpty(options.AdminApiKey))
        {
            sources.Add(new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = Workloads.OperatorKeyName(d), Optional = false } });
        }

        return sources;
    }

    private static V1Container Container(MoeDeployment d, MoeModel model, OperatorOptions options, List<V1VolumeMount> mounts)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        var args = new List<string> { "gateway", "--cluster-id", d.Metadata.Name, "--service-id", d.Metadata.Name };
        if (!string.IsNullOrEmpty(options.MembershipRedis))
        {
            args.InsertRange(1, ["--redis", options.MembershipRedis]);
        }

        return new V1Container
        {
            Name = "gateway",
            Image = string.IsNullOrEmpty(d.Spec.GatewayImage) ? options.GatewayImage : d.Spec.GatewayImage,
            Args = args,
            Env =
            [
                new V1EnvVar { Name = "MoeCloud__Gateway__BindAddress", Value = "0.0.0.0" },
                new V1EnvVar { Name = "MoeCloud__Gateway__GrpcPort", Value = Workloads.GatewayGrpcPort.ToString(invariant) },
                new V1EnvVar { Name = "MoeCloud__Gateway__HttpPort", Value = Workloads.GatewayHttpPort.ToString(invariant) },
                new V1EnvVar { Name = $"MoeCloud__Gateway__Models__{model.Metadata.Name}", Value = model.Spec.Weights.Path },
                new V1EnvVar { Name = "MoeCloud__Gateway__HomeGranularity", Value = d.Spec.Gateway.Homes },
                .. d.Spec.Gateway.HomeSplitLink is { } link ? [new V1EnvVar { Name = "MoeCloud__Gateway__HomeSplitLink", Value = link }] : Array.Empty<V1EnvVar>(),
                // No pod list: the gateway follows the Orleans membership it shares with the silos,
                // and each silo tells it the runner and ops addresses it serves on (its pod IP).
            ],
            // MoeCloud__Gateway__ApiKeys__N__{Name,Sha256} (the client keys) and, when the operator has an admin key,
            // MoeCloud__Gateway__AdminKeys__operator__{Name,Sha256}: without the Secrets the pod does not start, so the
            // gateway never runs with an open API.
            EnvFrom = KeySources(d, options),
            Ports =
            [
                new V1ContainerPort { Name = "grpc", ContainerPort = Workloads.GatewayGrpcPort },
                new V1ContainerPort { Name = "http", ContainerPort = Workloads.GatewayHttpPort },
            ],
            Resources = new V1ResourceRequirements
            {
                Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("1"), ["memory"] = new("1Gi") },
                Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("2Gi") },
            },
            ReadinessProbe = PodParts.Probe("/readyz", Workloads.GatewayHttpPort),
            LivenessProbe = PodParts.Probe("/healthz", Workloads.GatewayHttpPort),
            StartupProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = Workloads.GatewayHttpPort }, PeriodSeconds = 5, FailureThreshold = 60 },
            SecurityContext = PodParts.ContainerSecurity(),
            VolumeMounts = mounts,
        };
    }
}
