using Grpc.Core;
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
/// A pod that fails every request: a real Kestrel gRPC server whose runner answers <see cref="Code"/> to every call
/// (and counts them), with an ops endpoint whose <c>/readyz</c> answers 503.
/// </summary>
public sealed class FailingRunner : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CallCount _calls;

    private FailingRunner(WebApplication app, CallCount calls, int runnerPort, int opsPort)
    {
        _app = app;
        _calls = calls;
        Runner = $"http://127.0.0.1:{runnerPort}";
        Ops = $"http://127.0.0.1:{opsPort}";
    }

    /// <summary>The runner address (HTTP/2).</summary>
    public string Runner { get; }

    /// <summary>The ops address (HTTP/1.1).</summary>
    public string Ops { get; }

    /// <summary>Runner calls received.</summary>
    public int Calls => Volatile.Read(ref _calls.Value);

    /// <summary>The status every call gets.</summary>
    public static StatusCode Code => StatusCode.Unavailable;

    public static async Task<FailingRunner> Start()
    {
        var ports = FreePorts.Take(2);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenLocalhost(ports[0], l => l.Protocols = HttpProtocols.Http2);
            k.ListenLocalhost(ports[1], l => l.Protocols = HttpProtocols.Http1);
        });
        var calls = new CallCount();
        builder.Services.AddSingleton(calls);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<Service>();
        app.MapGet("/readyz", () => Results.Text("failing", statusCode: StatusCodes.Status503ServiceUnavailable));
        await app.StartAsync();
        return new FailingRunner(app, calls, ports[0], ports[1]);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class CallCount
    {
        public int Value;
    }

    private sealed class Service(CallCount calls) : MoeService.MoeServiceBase
    {
        public override Task<ForwardResponse> Forward(ForwardRequest request, ServerCallContext context) => Fail();

        public override Task<ForwardResponse> ForwardLayer(ForwardLayerRequest request, ServerCallContext context) => Fail();

        private Task<ForwardResponse> Fail()
        {
            Interlocked.Increment(ref calls.Value);
            throw new RpcException(new Status(Code, "this pod fails every request"));
        }
    }
}
