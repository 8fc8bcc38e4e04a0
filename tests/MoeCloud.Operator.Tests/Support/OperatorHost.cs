using System.Net;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeCloud.Kubernetes.Testing;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Tests.Support;

/// <summary>The real operator (same registrations as its Program.cs) on 127.0.0.1, pointed at an in-process API server.</summary>
public sealed class OperatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OperatorHost(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    public Uri Url { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<OperatorHost> StartAsync(KubeApiServer api, FakeAdminServer admin, string identity = "operator-a", Action<IDictionary<string, string?>>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("MOECLOUD_TEST_LOGS") == "1")
        {
            builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug);
        }
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var settings = new Dictionary<string, string?>
        {
            ["Operator:Identity"] = identity,
            ["Operator:LeaseNamespace"] = "default",
            ["Operator:LeaseDurationSeconds"] = "8",
            ["Operator:RenewDeadlineSeconds"] = "6",
            ["Operator:RetryPeriodSeconds"] = "1",
            ["Operator:ProgressPollSeconds"] = "0.05",
            ["Operator:ErrorRequeueSeconds"] = "1",
            ["Operator:AdminEndpointTemplate"] = admin.EndpointTemplate,
        };
        configure?.Invoke(settings);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton<IKubernetes>(_ => new k8s.Kubernetes(new KubernetesClientConfiguration { Host = api.Url.ToString() }));
        builder.Services.AddMoeCloudOperator(builder.Configuration);
        var app = builder.Build();
        app.MapOperatorEndpoints();
        await app.StartAsync();
        var url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return new OperatorHost(app, url);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
