using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Client;
using MoeCloud.Contracts.Steps;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;

namespace MoeCloud.Gateway.Tests;

/// <summary>Retries that cannot multiply load: a pod that fails every request, and a cluster where every pod does.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GatewayRetryBudgetTests(GatewayFixture fixture)
{
    [Fact]
    public async Task Forward_WhenAPodFailsEveryRequest_EjectsItAndServesEveryRequestOnTheOthers()
    {
        const int lanes = 4, perLane = 10;
        await using var failing = await FailingRunner.Start();
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.HomePolicy = HomePolicyName.LeastRequests; // least-requests picks pod 0 first on ties
        options.Pods[0].Runner = failing.Runner;
        options.Pods[0].Ops = failing.Ops;
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });

        // Four requests in flight at a time; every one must equal the reference.
        await Task.WhenAll(Enumerable.Range(0, lanes).Select(async lane =>
        {
            for (var i = 0; i < perLane; i++)
            {
                var output = await fixture.ForwardMatchingReference(client, 2, 300 + (lane * perLane) + i);
                Assert.DoesNotContain(0, output.HomePods);
            }
        }));

        // The failing pod was tried, then ejected: it saw at most one call per request in flight when it first failed,
        // and each of its failures was retried once on another pod.
        var metrics = running.App.Services.GetRequiredService<GatewayMetrics>();
        Assert.InRange(failing.Calls, 1, lanes);
        Assert.Equal(failing.Calls, metrics.Retries.WithLabels(GatewayFixture.Model).Value);
        Assert.DoesNotContain(0, running.App.Services.GetRequiredService<PodDirectory>().Available());
    }

    [Fact]
    public async Task Forward_WhenAPodAnswersThatOtherPodsExpertsFailed_RetriesElsewhereAndKeepsThePodAvailable()
    {
        // A runner whose step failed because another pod's experts found no replica (the experts-elsewhere trailer)
        // answered: the gateway retries the batch on another pod but must not eject the one that answered. Ejecting it
        // took the surviving pods out with the dead one when a pod holding the only replicas was killed.
        await using var failing = await FailingRunner.Start(new Metadata { { StepFailure.CauseTrailer, StepFailure.ExpertsElsewhere } }, ready: true);
        var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
        options.HomePolicy = HomePolicyName.LeastRequests; // least-requests picks pod 0 first on ties
        options.Pods[0].Runner = failing.Runner;
        options.Pods[0].Ops = failing.Ops;
        await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
        await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
        using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });

        for (var i = 0; i < 6; i++)
        {
            var output = await fixture.ForwardMatchingReference(client, 2, 500 + i);
            Assert.DoesNotContain(0, output.HomePods);
        }

        Assert.True(failing.Calls >= 2, $"pod 0 saw {failing.Calls} calls: it was not kept in rotation");
        Assert.Contains(0, running.App.Services.GetRequiredService<PodDirectory>().Available());
    }

    [Fact]
    public async Task Forward_WhenEveryPodFailsEveryRequest_RetriesStayWithinTheBudget()
    {
        const int requests = 30;
        var failing = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => FailingRunner.Start()));
        try
        {
            var options = GatewayFixture.NewOptions(fixture.Cluster, fixture.ModelDirectory, profile: null);
            options.HomePolicy = HomePolicyName.LeastRequests; // one sub-batch per request
            options.RetryBudgetReserve = 5;
            options.RetryBudgetRatio = 0.2;
            for (var p = 0; p < 3; p++)
            {
                options.Pods[p].Runner = failing[p].Runner;
                options.Pods[p].Ops = failing[p].Ops;
            }

            await using var running = await GatewayFixture.StartGateway(options, fixture.Cluster.Grains);
            await running.App.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
            using var client = new MoeCloudClient(new Uri($"http://127.0.0.1:{options.GrpcPort}"), new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey, MaxAttempts = 1 });
            var spec = fixture.Reference.Model.Spec;
            for (var i = 0; i < requests; i++)
            {
                var error = await Assert.ThrowsAsync<RpcException>(() => client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(2, spec.Hidden, 400 + i), 2, spec.Hidden, 0, spec.MoeLayers - 1));
                Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            }

            // Without a budget each request would try all 3 pods (90 calls); the budget allows reserve + ratio·sends retries.
            var calls = failing.Sum(f => f.Calls);
            Assert.InRange(calls, requests, requests + options.RetryBudgetReserve + (int)(options.RetryBudgetRatio * requests));
        }
        finally
        {
            foreach (var f in failing)
            {
                await f.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task ClientForward_WhenTheGatewayFailsEveryCall_RetriesStayWithinTheThrottlingBudget()
    {
        const int requests = 20;
        await using var failing = await FailingRunner.Start();
        var options = new MoeCloudClientOptions { MaxAttempts = 4, RetryTokens = 10 };
        using var client = new MoeCloudClient(new Uri(failing.Runner), options);
        var spec = fixture.Reference.Model.Spec;
        for (var i = 0; i < requests; i++)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => client.ForwardAsync(GatewayFixture.Model, GatewayFixture.Hidden(1, spec.Hidden, i), 1, spec.Hidden, 0, 0));
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        }

        // Without throttling: 4 attempts per call (80). gRPC throttling retries only while more than half the tokens remain.
        Assert.InRange(failing.Calls, requests, requests + (options.RetryTokens / 2));
    }

    [Fact]
    public void TryRetry_AfterSends_AllowsAtMostTheReservePlusTheRatioOfTheSends()
    {
        var budget = new RetryBudget(ratio: 0.25, reserve: 3);
        var granted = 0;
        for (var i = 0; i < 100; i++)
        {
            // Two retries wanted per send: far more than the budget pays for.
            granted += budget.TryRetry() ? 1 : 0;
            granted += budget.TryRetry() ? 1 : 0;
            budget.Sent();
        }

        while (budget.TryRetry())
        {
            granted++;
        }

        Assert.Equal(3 + 25, granted);
        Assert.Equal(0, budget.Available);
    }

    [Fact]
    public void Sent_WhenNothingFails_FillsTheBudgetOnlyUpToItsReserve()
    {
        var budget = new RetryBudget(ratio: 0.5, reserve: 4);
        for (var i = 0; i < 100; i++)
        {
            budget.Sent();
        }

        Assert.Equal(4, budget.Available);
    }
}
