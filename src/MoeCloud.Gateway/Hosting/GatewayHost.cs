using System.Net;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Gateway.Api;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using Prometheus;
using Yarp.ReverseProxy.Configuration;

namespace MoeCloud.Gateway.Hosting;

/// <summary>
/// Builds the gateway: gRPC (HTTP/2) on <see cref="GatewayOptions.GrpcPort"/>, with the standard health service
/// (<see cref="GatewayReadiness"/>) and server reflection; JSON API, admin API, their OpenAPI
/// documents (<see cref="GatewayOpenApi"/>), the admin page (<see cref="AdminPage"/>), <c>/healthz</c> and <c>/metrics</c> (HTTP/1.1) on <see cref="GatewayOptions.HttpPort"/>; TLS on both when a certificate is configured.
/// <paramref name="grains"/> connects it to the cluster (plans, telemetry, plan publication).
/// </summary>
public static class GatewayHost
{
    /// <summary>Creates the gateway's web application.</summary>
    public static WebApplication Create(GatewayOptions options, IGrainFactory grains, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(grains);
        var validation = new GatewayOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(GatewayOptions), typeof(GatewayOptions), validation.Failures);
        }

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "MoeCloud.Gateway" });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        // Logs go to standard error, so that a host embedded in moectl never mixes them into its output (--json).
        builder.Logging.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);
        var bind = IPAddress.Parse(options.BindAddress);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBytes;
            k.Listen(bind, options.GrpcPort, l =>
            {
                l.Protocols = HttpProtocols.Http2;
                if (options.CertificatePath is { Length: > 0 } cert)
                {
                    l.UseHttps(cert, options.CertificatePassword);
                }
            });
            k.Listen(bind, options.HttpPort, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                if (options.CertificatePath is { Length: > 0 } cert)
                {
                    l.UseHttps(cert, options.CertificatePassword);
                }
            });
        });

        builder.Services.AddSingleton(Options.Create(options));
        builder.Services.AddSingleton(grains);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<ClusterGauges>();
        builder.Services.AddSingleton<ApiKeyAuthenticator>();
        builder.Services.AddSingleton<GatewayModels>();
        builder.Services.AddSingleton<PodDirectory>();
        builder.Services.AddSingleton<MembershipDiscovery>();
        builder.Services.AddSingleton<WarmupHints>();
        builder.Services.AddSingleton(new RetryBudget(options.RetryBudgetRatio, options.RetryBudgetReserve));
        builder.Services.AddSingleton<ServingMonitor>();
        builder.Services.AddSingleton<GatewayForwarder>();
        builder.Services.AddSingleton<PlanWatcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PlanWatcher>());
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = options.MaxRequestBytes);
        builder.Services.AddSingleton<GatewayReadiness>();
        // The standard grpc.health.v1.Health service on the gRPC port, for gRPC probes and load balancers: the whole
        // server ("") and moecloud.v1.MoeService are SERVING exactly when /readyz says ready. Server reflection lets
        // grpcurl and similar tools list and call the services without the proto file. Neither needs an API key.
        builder.Services.AddGrpcHealthChecks(o =>
        {
            o.Services.Map("", _ => true);
            o.Services.Map(MoeCloud.Contracts.Protos.MoeService.Descriptor.FullName, _ => true);
        }).AddCheck<GatewayReadiness>("ready");
        builder.Services.AddGrpcReflection();
        builder.Services.AddReverseProxy().LoadFromMemory([], [PodDirectory.Cluster(options.Pods)]);
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = Problems.Complete);
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict);
        GatewayOpenApi.Add(builder.Services);

        var app = builder.Build();
        if (options.Pods.Count > 0)
        {
            app.Services.GetRequiredService<PodDirectory>().SetPods(options.Pods);
        }
        // Every JSON error is problem+json: an exception nothing handled (500), and statuses without a body (404, 405).
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapGrpcService<GatewayGrpcService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        JsonApi.Map(app);
        AdminApi.Map(app);
        AdminPage.Map(app);
        GatewayOpenApi.Map(app);
        app.MapGet("/healthz", () => Results.Text("ok")).ExcludeFromDescription();
        app.MapGet("/readyz", (GatewayReadiness readiness) =>
        {
            var why = readiness.NotReadyBecause();
            return why is null ? Results.Text("ready") : Results.Text(why, statusCode: StatusCodes.Status503ServiceUnavailable);
        }).ExcludeFromDescription();
        app.MapMetrics("/metrics", app.Services.GetRequiredService<GatewayMetrics>().Registry);
        app.MapReverseProxy();
        return app;
    }
}
