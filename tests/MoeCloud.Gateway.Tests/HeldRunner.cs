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
/// A pod that holds every layer request until <see cref="Release"/>: a real Kestrel gRPC server whose runner waits on a
/// gate, then answers the request's hidden states unchanged (no expert runs), and whose <c>/readyz</c> answers 200.
/// </summary>
public sealed class HeldRunner : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Gate _gate;

    private HeldRunner(WebApplication app, Gate gate, int runnerPort, int opsPort)
    {
        _app = app;
        _gate = gate;
        Runner = $"http://127.0.0.1:{runnerPort}";
        Ops = $"http://127.0.0.1:{opsPort}";
    }

    /// <summary>The runner address (HTTP/2).</summary>
    public string Runner { get; }

    /// <summary>The ops address (HTTP/1.1).</summary>
    public string Ops { get; }

    /// <summary>Requests waiting at the gate now.</summary>
    public int Waiting => Volatile.Read(ref _gate.Waiting);

    public static async Task<HeldRunner> Start()
    {
        var ports = FreePorts.Take(2);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ListenLocalhost(ports[0], l => l.Protocols = HttpProtocols.Http2);
            k.ListenLocalhost(ports[1], l => l.Protocols = HttpProtocols.Http1);
        });
        var gate = new Gate();
        builder.Services.AddSingleton(gate);
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<Service>();
        app.MapGet("/readyz", () => Results.Text("ready"));
        await app.StartAsync();
        return new HeldRunner(app, gate, ports[0], ports[1]);
    }

    /// <summary>Lets every held request, and every later one, through.</summary>
    public void Release() => _gate.Open.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Release();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class Gate
    {
        public readonly TaskCompletionSource Open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Waiting;
    }

    private sealed class Service(Gate gate) : MoeService.MoeServiceBase
    {
        public override async Task<ForwardResponse> ForwardLayer(ForwardLayerRequest request, ServerCallContext context)
        {
            Interlocked.Increment(ref gate.Waiting);
            try
            {
                await gate.Open.Task.WaitAsync(context.CancellationToken);
            }
            finally
            {
                Interlocked.Decrement(ref gate.Waiting);
            }

            return new ForwardResponse { Hidden = request.Hidden, PlanVersion = 1 };
        }
    }
}
