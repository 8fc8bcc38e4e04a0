using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeCloud.Contracts.Protos;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A stand-in pod for gateway tests: a real Kestrel server on two loopback ports, a runner (gRPC over HTTP/2) served by
/// <c>TService</c> and an ops endpoint (HTTP/1.1) whose <c>/readyz</c> answers as told.
/// </summary>
public sealed class TestPod : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestPod(WebApplication app, int runnerPort, int opsPort)
    {
        _app = app;
        Runner = $"http://127.0.0.1:{runnerPort}";
        Ops = $"http://127.0.0.1:{opsPort}";
    }

    /// <summary>The runner address (HTTP/2).</summary>
    public string Runner { get; }

    /// <summary>The ops address (HTTP/1.1).</summary>
    public string Ops { get; }

    /// <summary>Starts a pod whose runner is <typeparamref name="TService"/>, with <paramref name="state"/> as a singleton it can take.</summary>
    public static async Task<TestPod> Start<TService, TState>(TState state, bool ready)
        where TService : MoeService.MoeServiceBase
        where TState : class
    {
        var ports = FreePorts.Take(2);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenLocalhost(ports[0], l => l.Protocols = HttpProtocols.Http2);
            k.ListenLocalhost(ports[1], l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.AddSingleton(state);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<TService>();
        app.MapGet("/readyz", () => ready ? Results.Text("ready") : Results.Text("failing", statusCode: StatusCodes.Status503ServiceUnavailable));
        await app.StartAsync();
        return new TestPod(app, ports[0], ports[1]);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
