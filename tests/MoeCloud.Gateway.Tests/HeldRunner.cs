using Grpc.Core;
using MoeCloud.Contracts.Protos;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A pod that holds every layer request until <see cref="Release"/>: a <see cref="TestPod"/> whose runner waits on a
/// gate, then answers the request's hidden states unchanged (no expert runs), and whose <c>/readyz</c> answers 200.
/// </summary>
public sealed class HeldRunner : IAsyncDisposable
{
    private readonly TestPod _pod;
    private readonly Gate _gate;

    private HeldRunner(TestPod pod, Gate gate)
    {
        _pod = pod;
        _gate = gate;
    }

    /// <summary>The runner address (HTTP/2).</summary>
    public string Runner => _pod.Runner;

    /// <summary>The ops address (HTTP/1.1).</summary>
    public string Ops => _pod.Ops;

    /// <summary>Requests waiting at the gate now.</summary>
    public int Waiting => Volatile.Read(ref _gate.Waiting);

    public static async Task<HeldRunner> Start()
    {
        var gate = new Gate();
        return new HeldRunner(await TestPod.Start<Service, Gate>(gate, ready: true), gate);
    }

    /// <summary>Lets every held request, and every later one, through.</summary>
    public void Release() => _gate.Open.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        Release();
        await _pod.DisposeAsync();
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
