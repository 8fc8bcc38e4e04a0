using System.Text.Json;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// The objects a MoeDeployment owns: the silo StatefulSet and its headless Service, the gateway Deployment, its
/// client and admin Services, and the configuration ConfigMap (see <see cref="ScalingObjects"/> for the PDB and HPA). Pure functions of the spec.
/// </summary>
/// <remarks>
/// This type holds the names, labels, ports and owner metadata they share, and is the entry point for each object;
/// the silo side is rendered by <see cref="SiloWorkload"/>, the gateway side by <see cref="GatewayWorkload"/>, and the
/// pod pieces both use (probes, security contexts, the weights volume) by <see cref="PodParts"/>.
/// </remarks>
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
    /// Suffix of the Secret of client key hashes (in the deployment's namespace) whose entries become the gateway's
    /// environment: <c>MoeCloud__Gateway__ApiKeys__0__Name</c>, <c>MoeCloud__Gateway__ApiKeys__0__Sha256</c>, ….
    /// The operator creates it unless <see cref="GatewaySpec.KeysSecret"/> names another (see <see cref="GatewayKeys"/>).
    /// </summary>
    public const string GatewayKeysSuffix = "-gateway-keys";

    /// <summary>Suffix of the Secret with the hash of the operator's admin key, which the operator keeps up to date.</summary>
    public const string OperatorKeySuffix = "-operator-key";

    /// <summary>Suffix of the Secret into which the operator writes the generated client key once, for the user to read and delete.</summary>
    public const string ClientKeySuffix = "-client-key";
    public const string ExpertsReadyGate = "moecloud.io/experts-ready";

    public static string SiloName(MoeDeployment d) => d.Metadata.Name + "-silo";

    public static string GatewayName(MoeDeployment d) => d.Metadata.Name + "-gateway";

    /// <summary>The gateway's admin Service, which the operator's default <see cref="OperatorOptions.AdminEndpointTemplate"/> names.</summary>
    public static string GatewayAdminName(MoeDeployment d) => d.Metadata.Name + "-gateway-admin";

    public static string ConfigName(MoeDeployment d) => d.Metadata.Name + "-config";

    /// <summary>The Secret of client key hashes the gateway reads: <see cref="GatewaySpec.KeysSecret"/>, else <c>&lt;name&gt;-gateway-keys</c>.</summary>
    public static string GatewayKeysName(MoeDeployment d) =>
        string.IsNullOrEmpty(d.Spec.Gateway.KeysSecret) ? d.Metadata.Name + GatewayKeysSuffix : d.Spec.Gateway.KeysSecret;

    /// <summary>The Secret with the operator's admin key hash (<see cref="OperatorKeySuffix"/>).</summary>
    public static string OperatorKeyName(MoeDeployment d) => d.Metadata.Name + OperatorKeySuffix;

    /// <summary>The one-time Secret with the generated client key (<see cref="ClientKeySuffix"/>).</summary>
    public static string ClientKeyName(MoeDeployment d) => d.Metadata.Name + ClientKeySuffix;

    public static Dictionary<string, string> Labels(MoeDeployment d, string component) => new()
    {
        ["app.kubernetes.io/name"] = "moecloud",
        ["app.kubernetes.io/instance"] = d.Metadata.Name,
        [MoeCloudApi.ComponentLabel] = component,
        [MoeCloudApi.ManagedByLabel] = MoeCloudApi.ManagedByValue,
        [MoeCloudApi.DeploymentLabel] = d.Metadata.Name,
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

    /// <summary>A Service named <paramref name="name"/>, owned by the deployment and labelled with its <paramref name="component"/>.</summary>
    internal static V1Service Service(MoeDeployment d, string name, string component, V1ServiceSpec spec) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Meta(d, name, component),
        Spec = spec,
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

    /// <inheritdoc cref="SiloWorkload.HeadlessService"/>
    public static V1Service SiloService(MoeDeployment d) => SiloWorkload.HeadlessService(d);

    /// <inheritdoc cref="SiloWorkload.StatefulSet"/>
    public static V1StatefulSet Silo(MoeDeployment d, MoeModel model, int replicas, OperatorOptions options) => SiloWorkload.StatefulSet(d, model, replicas, options);

    /// <inheritdoc cref="GatewayWorkload.ClientService"/>
    public static V1Service GatewayService(MoeDeployment d) => GatewayWorkload.ClientService(d);

    /// <inheritdoc cref="GatewayWorkload.AdminService"/>
    public static V1Service GatewayAdminService(MoeDeployment d) => GatewayWorkload.AdminService(d);

    /// <inheritdoc cref="GatewayWorkload.Deployment"/>
    public static V1Deployment Gateway(MoeDeployment d, MoeModel model, OperatorOptions options, string? keysFingerprint = null) => GatewayWorkload.Deployment(d, model, options, keysFingerprint);
}
