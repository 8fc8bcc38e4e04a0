using k8s;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Testing;

namespace MoeCloud.Operator.Tests.Support;

/// <summary>An in-process API server with the chart's CRDs installed, a fake admin API, and a client of the server.</summary>
public sealed class Cluster : IAsyncDisposable
{
    private Cluster(KubeApiServer api, FakeAdminServer admin, IKubernetes client, TempDirectory temp)
    {
        Api = api;
        Admin = admin;
        Client = client;
        Temp = temp;
        Resources = new CustomResourceClient(client);
    }

    public KubeApiServer Api { get; }

    public FakeAdminServer Admin { get; }

    public IKubernetes Client { get; }

    public CustomResourceClient Resources { get; }

    public TempDirectory Temp { get; }

    public static async Task<Cluster> StartAsync()
    {
        var api = await KubeApiServer.StartAsync();
        api.InstallCrds(RepoPaths.CrdFiles);
        var admin = await FakeAdminServer.StartAsync();
        return new Cluster(api, admin, new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Url.ToString() }), new TempDirectory());
    }

    public Task<MoeDeployment?> DeploymentAsync(string name) =>
        Resources.GetAsync<MoeDeployment>(MoeCloudApi.MoeDeployments, "default", name, CancellationToken.None);

    public async Task<IList<ExpertPlacement>> PlacementsAsync(string name) =>
        (await Resources.ListAsync<ExpertPlacement>(MoeCloudApi.ExpertPlacements, "default", $"{MoeCloudApi.DeploymentLabel}={name}", CancellationToken.None))
        .OrderBy(p => p.Spec.Version).ToList();

    /// <summary>Plays the kubelet: the silo StatefulSet's pods are all ready.</summary>
    public void SiloReady(string deployment) => Api.MarkWorkloadReady("apps", "statefulsets", "default", deployment + "-silo");

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Admin.DisposeAsync();
        await Api.DisposeAsync();
        Temp.Dispose();
    }
}
