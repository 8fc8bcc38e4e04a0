using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Gateway.Tests;

/// <summary><see cref="MoeCloudClient"/> given several gateway replicas: calls go to those that answer.</summary>
[Collection(GatewayCollection.Name)]
public sealed class ClientReplicaTests(GatewayFixture fixture)
{
    [Fact]
    public async Task ForwardAsync_WhenOneOfTwoReplicasRefusesConnections_ServesEveryRequestThroughTheOther()
    {
        var nobody = new Uri($"http://127.0.0.1:{FreePorts.Take(1)[0]}");
        using var client = new MoeCloudClient([nobody, fixture.Grpc], new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });

        for (var i = 0; i < 8; i++)
        {
            await fixture.ForwardMatchingReference(client, 2, 700 + i);
        }
    }

    [Fact]
    public async Task ForwardAsync_WhenAReplicaStopsBetweenCalls_ServesTheNextCallsThroughTheOther()
    {
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        var second = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        using var client = new MoeCloudClient([new Uri($"http://127.0.0.1:{options.GrpcPort}"), fixture.Grpc], new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        try
        {
            await second.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
            for (var i = 0; i < 4; i++)
            {
                await fixture.ForwardMatchingReference(client, 2, 720 + i);
            }
        }
        finally
        {
            await second.DisposeAsync();
        }

        for (var i = 0; i < 8; i++)
        {
            await fixture.ForwardMatchingReference(client, 2, 730 + i);
        }
    }

    [Fact]
    public async Task ForwardAsync_WhenAReplicaGoesAwayWithoutAResetWhileCallsAreInFlight_AnswersThemThroughTheOtherBeforeTheirDeadline()
    {
        // A gateway whose container was killed sends no reset: its connections go silent. The calls in flight on them
        // must be retried on the other replica within their 10 s deadline, not wait it out.
        await using var relay = new SilentProxy(fixture.Grpc);
        using var client = new MoeCloudClient([new Uri(relay.Address), fixture.Grpc], new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, Deadline = TimeSpan.FromSeconds(10) });
        for (var i = 0; i < 4; i++)
        {
            await fixture.ForwardMatchingReference(client, 2, 740 + i); // round robin: both replicas have served
        }

        relay.GoDown();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => fixture.ForwardMatchingReference(client, 2, 750 + i)));
    }

    [Fact]
    public async Task ForwardAsync_WhenAReplicaCrashesUnderConcurrentLoadAndThenRefusesConnections_NoCallFails()
    {
        // A gateway process killed while its address still answers: its connections are reset and new ones refused
        // for as long as it is down. Under 4 calls in flight, none may fail: a refused connection never reached a
        // gateway, so the call goes to the other replica, and the dead one takes no call until it accepts again.
        await using var relay = new SilentProxy(fixture.Grpc);
        using var client = new MoeCloudClient([new Uri(relay.Address), fixture.Grpc], new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var crashed = false;
        var completed = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++)
            {
                if (worker == 0 && i == 10)
                {
                    await relay.Crash(dying: TimeSpan.FromMilliseconds(300));
                    Volatile.Write(ref crashed, true);
                }

                try
                {
                    await fixture.ForwardMatchingReference(client, 2, 800 + (worker * 100) + i);
                }
                catch (Grpc.Core.RpcException e)
                {
                    failures.Add($"{e.StatusCode} {e.Status.Detail}");
                }

                Interlocked.Increment(ref completed);
            }
        })));

        Assert.True(Volatile.Read(ref crashed));
        Assert.True(failures.IsEmpty, $"{failures.Count} of {completed} calls failed: {string.Join("; ", failures.Distinct().Take(3))}");
    }

    [Fact]
    public void Constructor_WhenReplicasMixHttpAndHttps_ThrowsArgumentException()
    {
        var error = Assert.Throws<ArgumentException>(() => new MoeCloudClient([new Uri("http://127.0.0.1:5000"), new Uri("https://127.0.0.1:5001")]));

        Assert.Contains("must all be http:// or all https://", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_WhenNoReplicaIsGiven_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => new MoeCloudClient(Array.Empty<Uri>()));
    }
}
