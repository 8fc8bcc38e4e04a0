using Grpc.Core;
using MoeCloud.Contracts.Protos;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A pod that fails every request: a <see cref="TestPod"/> whose runner answers <see cref="Code"/> to every call (and
/// counts them), with the trailers it was started with, and whose <c>/readyz</c> answers 503 (200 with
/// <c>ready</c>).
/// </summary>
public sealed class FailingRunner : IAsyncDisposable
{
    private readonly TestPod _pod;
    private readonly CallCount _calls;

    private FailingRunner(TestPod pod, CallCount calls)
    {
        _pod = pod;
        _calls = calls;
    }

    /// <summary>The runner address (HTTP/2).</summary>
    public string Runner => _pod.Runner;

    /// <summary>The ops address (HTTP/1.1).</summary>
    public string Ops => _pod.Ops;

    /// <summary>Runner calls received.</summary>
    public int Calls => Volatile.Read(ref _calls.Value);

    /// <summary>The status every call gets.</summary>
    public static StatusCode Code => StatusCode.Unavailable;

    public static async Task<FailingRunner> Start(Metadata? trailers = null, bool ready = false)
    {
        var calls = new CallCount { Trailers = trailers ?? Metadata.Empty };
        return new FailingRunner(await TestPod.Start<Service, CallCount>(calls, ready), calls);
    }

    public ValueTask DisposeAsync() => _pod.DisposeAsync();

    private sealed class CallCount
    {
        public int Value;

        public Metadata Trailers { get; init; } = Metadata.Empty;
    }

    private sealed class Service(CallCount calls) : MoeService.MoeServiceBase
    {
        public override Task<ForwardResponse> Forward(ForwardRequest request, ServerCallContext context) => Fail();

        public override Task<ForwardResponse> ForwardLayer(ForwardLayerRequest request, ServerCallContext context) => Fail();

        private Task<ForwardResponse> Fail()
        {
            Interlocked.Increment(ref calls.Value);
            throw new RpcException(new Status(Code, "this pod fails every request"), calls.Trailers);
        }
    }
}
