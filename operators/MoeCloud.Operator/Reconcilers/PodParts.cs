using k8s.Models;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>The pieces the silo and gateway pod templates share: the weights volume, probes, downward-API variables and security contexts.</summary>
internal static class PodParts
{
    private const int RunAsUser = 65532;

    /// <summary>Mounts the model's weights claim read-only at its path, when the model names a claim.</summary>
    public static void AddWeights(MoeModel model, List<V1VolumeMount> mounts, List<V1Volume> volumes)
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

    /// <summary>An environment variable set from a field of the pod (<c>metadata.name</c>, <c>status.podIP</c>, …).</summary>
    public static V1EnvVar FieldEnv(string name, string path) =>
        new() { Name = name, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = path } } };

    public static V1Probe Probe(string path, int port) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = port },
        PeriodSeconds = 5,
        FailureThreshold = 3,
    };

    public static V1PodSecurityContext PodSecurity() => new()
    {
        RunAsNonRoot = true,
        RunAsUser = RunAsUser,
        RunAsGroup = RunAsUser,
        FsGroup = RunAsUser,
        SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
    };

    public static V1SecurityContext ContainerSecurity() => new()
    {
        AllowPrivilegeEscalation = false,
        ReadOnlyRootFilesystem = true,
        RunAsNonRoot = true,
        Capabilities = new V1Capabilities { Drop = ["ALL"] },
    };
}
