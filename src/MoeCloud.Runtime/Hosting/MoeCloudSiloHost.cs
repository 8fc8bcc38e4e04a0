using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Api;
using MoeCloud.Runtime.Placement;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;
using Orleans.Configuration;
using Prometheus;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Builds one MoeCloud silo: an ASP.NET Core host with the Orleans silo, the runner API (gRPC over an HTTP/2-only
/// endpoint), and an HTTP/1.1 endpoint for <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c> and, when turned on, the
/// Orleans Dashboard (<see cref="OpsDashboard"/>). The pod process
/// (src/MoeCloud.Silo), <c>moectl silo</c> and the embedded local cluster all use this one builder.
/// </summary>
public static class MoeCloudSiloHost
{
    /// <summary>
    /// Creates the silo's web application; <paramref name="configureLogging"/> adjusts logging (the embedded cluster
    /// quiets it), and <paramref name="configureServices"/> adds services last.
    /// </summary>
    public static WebApplication Create(MoeCloudSiloOptions options, Action<ILoggingBuilder>? configureLogging = null, string[]? args = null, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var validation = new MoeCloudSiloOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(MoeCloudSiloOptions), typeof(MoeCloudSiloOptions), validation.Failures);
        }

        // Expert kernels are CPU-bound and run on pool threads; start the pool wide enough that grain turns, gRPC and
        // timers are not starved while kernels compute (the default minimum is one thread per core).
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16 * Environment.ProcessorCount), io);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args ?? [], ApplicationName = "MoeCloud.Silo" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        // Logs go to standard error, so that a host embedded in moectl never mixes them into its output (--json).
        builder.Logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        configureLogging?.Invoke(builder.Logging);

        var bind = IPAddress.Parse(options.AdvertisedAddress);
        // Loopback only for a local cluster; in a pod (Kubernetes clustering) or on a real address, every interface.
        var listen = IPAddress.IsLoopback(bind) && options.Clustering != ClusteringMode.Kubernetes ? bind : IPAddress.Any;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(listen, options.RunnerPort, l => l.Protocols = HttpProtocols.Http2);
            k.Listen(listen, options.OpsPort, l => l.Protocols = HttpProtocols.Http1);
            k.Limits.MaxRequestBodySize = 512L * 1024 * 1024;
        });

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddSingleton<IValidateOptions<MoeCloudSiloOptions>, MoeCloudSiloOptionsValidator>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SiloPlanState>();
        builder.Services.AddSingleton<SiloMetrics>();
        builder.Services.AddSingleton<ModelCatalog>();
        builder.Services.AddSingleton<TelemetryRecorder>();
        builder.Services.AddSingleton<LocalExperts>();
        builder.Services.AddSingleton<ExpertExecutor>();
        builder.Services.AddSingleton<RowPool>(); // the layer messages' rows and replies (PooledRowsCodec reads into it)
        builder.Services.AddSingleton<Rehoming>();
        builder.Services.AddSingleton<UnreachablePods>();
        builder.Services.AddSingleton<StackRunner>();
        builder.Services.AddHostedService<SiloBackgroundServices>();
        builder.Services.AddHostedService<PlanRepairTrigger>();
        if (options.Clustering is ClusteringMode.Redis or ClusteringMode.Kubernetes)
        {
            builder.Services.AddHostedService<MembershipStoreRestore>(); // a store that lost its data gets this silo back
        }

        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = o.MaxSendMessageSize = 512 * 1024 * 1024);

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            silo.Configure<SiloOptions>(o => o.SiloName = options.SiloName);
            switch (options.Clustering)
            {
                case ClusteringMode.Localhost:
                    silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort, new IPEndPoint(IPAddress.Loopback, options.PrimarySiloPort), options.ServiceId, options.ClusterId);
                    break;
                case ClusteringMode.Redis:
                    silo.ConfigureEndpoints(bind, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(bind));
                    silo.UseRedisClustering(options.RedisConnectionString!);
                    break;
                case ClusteringMode.Kubernetes:
                    silo.UseKubernetesHosting();
                    silo.UseRedisClustering(options.RedisConnectionString!);
                    break;
            }

            silo.AddPlacementDirector<PodPlacementStrategy, PodPlacementDirector>();
            silo.AddMemoryGrainStorage("PubSubStore");
            silo.AddMemoryStreams(TelemetryGrain.StreamProvider);
            OpsDashboard.AddTo(silo, options);
        });

        configureServices?.Invoke(builder.Services);
        var app = builder.Build();
        OpsDashboard.Map(app, options);
        app.MapGrpcService<RunnerService>();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", (ModelCatalog catalog, SiloPlanState plans) =>
        {
            var missing = catalog.Names.Where(m => plans.Get(m) is null).ToArray();
            return missing.Length == 0
                ? Results.Text($"ready\nexpert backend: {catalog.ExpertBackend}\n")
                : Results.Text($"no plan yet for: {string.Join(", ", missing)}\nexpert backend: {catalog.ExpertBackend}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        var metrics = app.Services.GetRequiredService<SiloMetrics>();
        metrics.ExpertBackend.WithLabels(app.Services.GetRequiredService<ModelCatalog>().ExpertBackend).Set(1);
        app.MapMetrics("/metrics", metrics.Registry);
        return app;
    }
}
