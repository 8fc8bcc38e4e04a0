using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MoeCloud.Cli.Hosting;
using MoeCloud.Gateway.Hosting;
using ClusterOptions = Orleans.Configuration.ClusterOptions;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl gateway</c>: runs the gateway as its own process (the gateway container's entry point). Configuration:
/// a JSON file (<c>--config</c>), then environment variables (<c>MoeCloud__Gateway__GrpcPort=5000</c>, …), section
/// <c>MoeCloud:Gateway</c>; it joins the cluster as an Orleans client through Redis membership.
/// </summary>
public static class GatewayCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "gateway",
            "Run the gateway process until SIGTERM or Ctrl-C (configuration: --config file, then MoeCloud__Gateway__* environment variables).",
            "",
            [
                new("config", "<file.json> configuration with a MoeCloud:Gateway section"),
                new("redis", "<host:port> the cluster's Redis membership (required)"),
                new("cluster-id", "<id> Orleans cluster id (default moecloud)"),
                new("service-id", "<id> Orleans service id, as the silos' (default moecloud)"),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var redis = args.Require("redis");
        var configuration = new ConfigurationBuilder();
        if (args.Get("config") is { } file)
        {
            configuration.AddJsonFile(Path.GetFullPath(file), optional: false);
        }

        var options = new GatewayOptions();
        configuration.AddEnvironmentVariables().Build().GetSection(GatewayOptions.Section).Bind(options);
        var validation = new GatewayOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new InvalidOperationException("invalid gateway configuration: " + string.Join(" ", validation.Failures));
        }

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(c =>
        {
            c.UseRedisClustering(redis);
            c.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = args.Get("cluster-id") ?? "moecloud";
                o.ServiceId = args.Get("service-id") ?? "moecloud";
            });
        });
        using var client = builder.Build();
        await client.StartAsync(ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        await using var gateway = GatewayHost.Create(options, client.Services.GetRequiredService<IClusterClient>(), l => l.SetMinimumLevel(LogLevel.Information));
        await gateway.StartAsync(stop.Token);
        await console.Error.WriteLineAsync($"gateway serving gRPC on {options.BindAddress}:{options.GrpcPort}, HTTP on {options.BindAddress}:{options.HttpPort}");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
            // SIGTERM or Ctrl-C.
        }

        await gateway.StopAsync(CancellationToken.None);
        await client.StopAsync(CancellationToken.None);
        return Moectl.Ok;
    }
}
