using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>The silo side of a MoeDeployment: the StatefulSet of silo pods and its headless Service.</summary>
internal static class SiloWorkload
{
    /// <summary>The silo StatefulSet with <paramref name="replicas"/> pods (the larger of spec.replicas and the pods the plans still use).</summary>
    public static V1StatefulSet StatefulSet(MoeDeployment d, MoeModel model, int replicas, OperatorOptions options)
    {
        var mounts = new List<V1VolumeMount>
        {
            new() { Name = "config", MountPath = "/etc/moecloud", ReadOnlyProperty = true },
            new() { Name = "tmp", MountPath = "/tmp" },
        };
        var volumes = new List<V1Volume>
        {
            new() { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = Workloads.ConfigName(d) } },
            new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource() },
        };
        PodParts.AddWeights(model, mounts, volumes);

        return new V1StatefulSet
        {
            ApiVersion = "apps/v1",
            Kind = "StatefulSet",
            Metadata = Workloads.Meta(d, Workloads.SiloName(d), "silo"),
            Spec = new V1StatefulSetSpec
            {
                Replicas = replicas,
                ServiceName = Workloads.SiloName(d),
                PodManagementPolicy = "Parallel",
                Selector = new V1LabelSelector { MatchLabels = Workloads.Selector(d, "silo") },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta { Labels = PodLabels(d) },
                    Spec = new V1PodSpec
                    {
                        // Orleans' Kubernetes hosting watches pods, so the silos run under a ServiceAccount that may.
                        ServiceAccountName = string.IsNullOrEmpty(options.SiloServiceAccount) ? null : options.SiloServiceAccount,
                        AutomountServiceAccountToken = !string.IsNullOrEmpty(options.SiloServiceAccount),
                        EnableServiceLinks = false,
                        TerminationGracePeriodSeconds = d.Spec.Migration.DrainSeconds + 30,
                        ReadinessGates = [new V1PodReadinessGate { ConditionType = Workloads.ExpertsReadyGate }],
                        SecurityContext = PodParts.PodSecurity(),
                        TopologySpreadConstraints =
                        [
                            Spread(d, "kubernetes.io/hostname"),
                            Spread(d, "topology.kubernetes.io/zone"),
                        ],
                        Containers = [Container(d, model, options, mounts)],
                        Volumes = volumes,
                    },
                },
            },
        };
    }

    /// <summary>The headless Service that gives every silo pod a stable DNS name, ready or not.</summary>
    public static V1Service HeadlessService(MoeDeployment d) =>
        Workloads.Service(d, Workloads.SiloName(d), "silo", new V1ServiceSpec
        {
            ClusterIP = "None",
            PublishNotReadyAddresses = true,
            Selector = Workloads.Selector(d, "silo"),
            Ports =
            [
                new V1ServicePort { Name = "silo", Port = Workloads.SiloPort, TargetPort = Workloads.SiloPort },
                new V1ServicePort { Name = "orleans-gateway", Port = Workloads.SiloGatewayPort, TargetPort = Workloads.SiloGatewayPort },
                new V1ServicePort { Name = "runner", Port = Workloads.RunnerPort, TargetPort = Workloads.RunnerPort },
            ],
        });

    private static V1Container Container(MoeDeployment d, MoeModel model, OperatorOptions options, List<V1VolumeMount> mounts)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        return new V1Container
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
                new V1EnvVar { Name = "MoeCloud__Silo__RunnerPort", Value = Workloads.RunnerPort.ToString(invariant) },
                new V1EnvVar { Name = "MoeCloud__Silo__OpsPort", Value = Workloads.OpsPort.ToString(invariant) },
                new V1EnvVar { Name = $"MoeCloud__Silo__Models__{model.Metadata.Name}", Value = model.Spec.Weights.Path },
                new V1EnvVar { Name = "ORLEANS_SERVICE_ID", Value = d.Metadata.Name },
                new V1EnvVar { Name = "ORLEANS_CLUSTER_ID", Value = d.Metadata.Name },
                PodParts.FieldEnv("POD_NAME", "metadata.name"),
                PodParts.FieldEnv("POD_NAMESPACE", "metadata.namespace"),
                PodParts.FieldEnv("POD_IP", "status.podIP"),
                .. (string.IsNullOrEmpty(options.MembershipRedis) ? Array.Empty<V1EnvVar>() : [new V1EnvVar { Name = "MoeCloud__Silo__RedisConnectionString", Value = options.MembershipRedis }]),
                .. (options.SiloDashboard ? [new V1EnvVar { Name = "MoeCloud__Silo__Dashboard", Value = "true" }] : Array.Empty<V1EnvVar>()),
            ],
            // With the dashboard on, the deployment's admin keys (MoeCloud__Gateway__AdminKeys__N__Sha256) open it; without
            // the Secret the pod does not start, so the dashboard is never served without a key.
            EnvFrom = options.SiloDashboard ? [new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = Workloads.GatewayKeysName(d), Optional = false } }] : null,
            Ports =
            [
                new V1ContainerPort { Name = "silo", ContainerPort = Workloads.SiloPort },
                new V1ContainerPort { Name = "orleans-gateway", ContainerPort = Workloads.SiloGatewayPort },
                new V1ContainerPort { Name = "runner", ContainerPort = Workloads.RunnerPort },
                new V1ContainerPort { Name = "ops", ContainerPort = Workloads.OpsPort },
            ],
            Resources = Resources(d.Spec.Resources),
            ReadinessProbe = PodParts.Probe("/readyz", Workloads.OpsPort),
            LivenessProbe = PodParts.Probe("/healthz", Workloads.OpsPort),
            StartupProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = Workloads.OpsPort }, PeriodSeconds = 10, FailureThreshold = 60 },
            SecurityContext = PodParts.ContainerSecurity(),
            VolumeMounts = mounts,
        };
    }

    /// <summary>CPU and memory requests, a memory limit, and the accelerators as both request and limit.</summary>
    private static V1ResourceRequirements Resources(SiloResources r)
    {
        var requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(r.Cpu), ["memory"] = new(r.Memory) };
        var limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new(r.Memory) };
        if (!string.IsNullOrEmpty(r.AcceleratorResource) && r.AcceleratorsPerPod > 0)
        {
            requests[r.AcceleratorResource] = new ResourceQuantity(r.AcceleratorsPerPod.ToString(System.Globalization.CultureInfo.InvariantCulture));
            limits[r.AcceleratorResource] = requests[r.AcceleratorResource];
        }

        return new V1ResourceRequirements { Requests = requests, Limits = limits };
    }

    /// <summary>The silo pods' labels: the deployment's, plus the ones Orleans' Kubernetes hosting reads.</summary>
    private static Dictionary<string, string> PodLabels(MoeDeployment d) => new(Workloads.Labels(d, "silo"))
    {
        ["orleans/serviceId"] = d.Metadata.Name,
        ["orleans/clusterId"] = d.Metadata.Name,
    };

    private static V1TopologySpreadConstraint Spread(MoeDeployment d, string key) => new()
    {
        MaxSkew = 1,
        TopologyKey = key,
        WhenUnsatisfiable = "ScheduleAnyway",
        LabelSelector = new V1LabelSelector { MatchLabels = Workloads.Selector(d, "silo") },
    };
}
