using k8s;
using k8s.Models;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Tests.Support;

namespace MoeCloud.Operator.Tests.EndToEnd;

/// <summary>Small models and deployments for end-to-end runs (a few layers, so migrations finish in a few plans).</summary>
internal static class Scenario
{
    public static MoeModel Model(string name = "tiny", int layers = 4, int experts = 16, int topK = 2) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
        Spec = new MoeModelSpec
        {
            Architecture = new MoeArchitecture { Layers = layers, Experts = experts, TopK = topK, HiddenSize = 64, MoeIntermediateSize = 32 },
            Weights = new WeightSource { Path = "/models/" + name },
        },
    };

    public static MoeDeployment Deployment(string name, string model, int replicas, int maxMoves = 24) => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
        Spec = new MoeDeploymentSpec
        {
            ModelRef = new ModelReference { Name = model },
            Replicas = replicas,
            Placement = new PlacementPolicy { MaxMoves = maxMoves, ReplacementIntervalSeconds = 0 },
        },
    };

    public static async Task CreateAsync(Cluster cluster, MoeModel model, MoeDeployment deployment)
    {
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeModels, "default", model, CancellationToken.None);
        await cluster.Resources.CreateAsync(MoeCloudApi.MoeDeployments, "default", deployment, CancellationToken.None);
    }

    public static Task<MoeDeployment> ReadyAtAsync(Cluster cluster, string name, int planVersion) =>
        Eventually.WaitAsync(() => cluster.DeploymentAsync(name),
            d => d.Status?.Phase == "Ready" && d.Status.CurrentPlanVersion == planVersion, $"{name} ready on plan v{planVersion}");

    public static async Task<V1StatefulSet?> SiloAsync(Cluster cluster, string deployment)
    {
        try
        {
            return await cluster.Client.AppsV1.ReadNamespacedStatefulSetAsync(deployment + "-silo", "default");
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
