using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>
/// An in-process Kubernetes API server for tests. It speaks the real REST protocol over HTTP on 127.0.0.1 (discovery,
/// get/list/watch with resourceVersion, create, update, merge and JSON patch, status and scale subresources, 409
/// conflicts, 404s as Status objects, Table output for kubectl), serves custom resources from their
/// CustomResourceDefinitions, and cascades deletes through ownerReferences like the garbage collector. It runs no
/// other controllers: no pods exist, and a test marks workloads ready itself (<see cref="MarkWorkloadReady"/>).
/// </summary>
public sealed class KubeApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ResourceHandler _handler;

    private KubeApiServer(WebApplication app, ResourceHandler handler, Uri url, Uri? httpsUrl)
    {
        _app = app;
        _handler = handler;
        Url = url;
        HttpsUrl = httpsUrl;
    }

    public Uri Url { get; }

    /// <summary>The HTTPS endpoint that <see cref="StartAsync(IPAddress, X509Certificate2, CancellationToken)"/> added (what in-cluster clients use); null without one.</summary>
    public Uri? HttpsUrl { get; }

    public ObjectStore Store => _handler.Store;

    public ResourceCatalog Catalog => _handler.Catalog;

    /// <summary>Every request the server answered, as "METHOD path?query status" (for diagnostics in failed tests).</summary>
    public IReadOnlyCollection<string> RequestLog => _handler.RequestLog;

    public static Task<KubeApiServer> StartAsync(CancellationToken cancellationToken = default) => StartCoreAsync(null, null, cancellationToken);

    /// <summary>
    /// Also serves HTTPS on <paramref name="httpsAddress"/> (a free port) with <paramref name="certificate"/>, as a
    /// pod's in-cluster client expects (<c>KUBERNETES_SERVICE_HOST</c>, the service account's <c>ca.crt</c>); the
    /// server checks no credentials.
    /// </summary>
    public static Task<KubeApiServer> StartAsync(IPAddress httpsAddress, X509Certificate2 certificate, CancellationToken cancellationToken = default) =>
        StartCoreAsync(httpsAddress, certificate, cancellationToken);

    private static async Task<KubeApiServer> StartCoreAsync(IPAddress? httpsAddress, X509Certificate2? certificate, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o =>
        {
            o.Listen(IPAddress.Loopback, 0);
            if (httpsAddress is not null && certificate is not null)
            {
                o.Listen(httpsAddress, 0, l => l.UseHttps(certificate));
            }
        });
        var app = builder.Build();
        var handler = new ResourceHandler(new ObjectStore(), new ResourceCatalog());
        app.Run(handler.HandleAsync);
        await app.StartAsync(cancellationToken);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        handler.Seed();
        var https = addresses.FirstOrDefault(a => a.StartsWith("https://", StringComparison.Ordinal));
        return new KubeApiServer(app, handler, new Uri(addresses.First(a => a.StartsWith("http://", StringComparison.Ordinal))), https is null ? null : new Uri(https));
    }

    /// <summary>Creates the CustomResourceDefinitions in the given YAML or JSON files, as <c>kubectl apply</c> of them would.</summary>
    public void InstallCrds(IEnumerable<string> files)
    {
        foreach (var file in files)
        {
            foreach (var document in YamlDocuments.Load(File.ReadAllText(file)))
            {
                _handler.CreateOrReplace(document);
            }
        }
    }

    /// <summary>Plays the kubelet and the workload controllers: status.replicas, readyReplicas and availableReplicas = spec.replicas.</summary>
    public void MarkWorkloadReady(string group, string plural, string ns, string name) =>
        _handler.MarkReady(new StoreKey(group, plural, ns, name));

    /// <summary>Writes a kubeconfig that points kubectl at this server (with <paramref name="token"/> as the user's bearer token, which the server does not check: the .NET client wants some credential).</summary>
    public string WriteKubeconfig(string path, string ns = "default", string? token = null)
    {
        var text = new StringBuilder()
            .AppendLine("apiVersion: v1")
            .AppendLine("kind: Config")
            .AppendLine("clusters:")
            .AppendLine("- name: inproc")
            .AppendLine("  cluster:")
            .AppendLine($"    server: {Url.ToString().TrimEnd('/')}")
            .AppendLine("users:")
            .AppendLine("- name: tester")
            .AppendLine(token is null ? "  user: {}" : $"  user: {{token: {token}}}")
            .AppendLine("contexts:")
            .AppendLine("- name: inproc")
            .AppendLine("  context:")
            .AppendLine("    cluster: inproc")
            .AppendLine("    user: tester")
            .AppendLine($"    namespace: {ns}")
            .AppendLine("current-context: inproc")
            .ToString();
        File.WriteAllText(path, text);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        _handler.Store.CloseWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
