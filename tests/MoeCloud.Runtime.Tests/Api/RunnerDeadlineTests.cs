using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Runtime.Api;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Tests.Api;

/// <summary>The runner refuses a step whose deadline has passed, before computing anything.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RunnerDeadlineTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Forward_WhenTheDeadlineHasPassed_IsRefusedWithDeadlineExceededAndRunsNothing()
    {
        var services = fixture.Cluster.Silos[0].App.Services;
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero));
        var metrics = services.GetRequiredService<SiloMetrics>();
        var service = new RunnerService(services.GetRequiredService<StackRunner>(), services.GetRequiredService<ModelCatalog>(), services.GetRequiredService<SiloPlanState>(), metrics, time);
        var spec = fixture.Reference.Model.Spec;
        var request = RequestFactory.Forward(ClusterFixture.Model, 0, spec.MoeLayers - 1, RequestFactory.Hidden(2, spec.Hidden, 41), 2, spec.Hidden);
        var ok = metrics.Requests.WithLabels(ClusterFixture.Model, "ok");
        var refused = metrics.Requests.WithLabels(ClusterFixture.Model, "deadline");
        var (okBefore, refusedBefore) = (ok.Value, refused.Value);

        var late = await Assert.ThrowsAsync<RpcException>(() => service.Forward(request, new TestCallContext(time.GetUtcNow().UtcDateTime.AddMilliseconds(-1))));

        Assert.Equal(StatusCode.DeadlineExceeded, late.StatusCode);
        Assert.Equal(okBefore, ok.Value);
        Assert.Equal(refusedBefore + 1, refused.Value);

        // The same step with its deadline still ahead runs: the deadline alone refused it.
        var response = await service.Forward(request, new TestCallContext(time.GetUtcNow().UtcDateTime.AddSeconds(30)));
        Assert.Equal(okBefore + 1, ok.Value);
        Assert.True(RequestFactory.MaxRelativeError(fixture.Reference.ForwardStack(0, spec.MoeLayers - 1, RequestFactory.Hidden(2, spec.Hidden, 41), 2), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(response.Hidden.Data.Span)) <= 1e-4);
    }

    /// <summary>A server call context with a given deadline (UTC) and no cancellation.</summary>
    private sealed class TestCallContext(DateTime deadline) : ServerCallContext
    {
        protected override string MethodCore => "/moecloud.MoeService/Forward";

        protected override string HostCore => "localhost";

        protected override string PeerCore => "ipv4:127.0.0.1:1";

        protected override DateTime DeadlineCore => deadline;

        protected override Metadata RequestHeadersCore => [];

        protected override CancellationToken CancellationTokenCore => CancellationToken.None;

        protected override Metadata ResponseTrailersCore => [];

        protected override Status StatusCore { get; set; }

        protected override WriteOptions? WriteOptionsCore { get; set; }

        protected override AuthContext AuthContextCore => new(null, []);

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
