using System.Diagnostics;
using Grpc.Core;
using MoeCloud.Contracts.Steps;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Grains;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Telemetry;
using MoeCloud.Testing;
using Xunit.Abstractions;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// A silo killed without a graceful stop while it holds the only replicas of some experts: the silos publish a repair
/// plan that re-places them on the survivors, and a step that needs one of them waits for it (within its deadline).
/// In one process the cluster notices an ungraceful stop within about half a second, and a layer message sent to the
/// dead pod after that is served by the placement director's fallback; so the window a kill -9 leaves before the
/// cluster notices (no pod answers, none is declared dead) is made explicit: the victim's silo refuses layer work first.
/// </summary>
public sealed class RepairTests(ITestOutputHelper output)
{
    private const string Model = "tiny";
    private const int Pods = 3, Tokens = 8, Victim = 2;

    [Fact]
    public async Task SiloKilled_WhenItHeldTheOnlyReplicas_RepairPlanReplacesThemAndAWaitingStepEqualsTheReference()
    {
        await using var setup = await Setup.Start(output);
        var (cluster, spec, reference, v1) = (setup.Cluster, setup.Spec, setup.Reference, setup.Plan);
        var waits = cluster.Silos[0].App.Services.GetRequiredService<SiloMetrics>().RepairWaits.WithLabels(Model, "served");
        var waitedBefore = waits.Value;
        using var channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        var runner = new MoeService.MoeServiceClient(channel);
        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 90);

        // Pod 2 stops answering (a kill -9 before the cluster notices), a step needs its experts, then pod 2 dies.
        setup.Refusal.On = true;
        var step = runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(60)).ResponseAsync;
        for (var i = 0; i < 600 && Volatile.Read(ref setup.Refusal.Refused) == 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.True(Volatile.Read(ref setup.Refusal.Refused) > 0, "the step sent pod 2 no layer work");
        var killed = Stopwatch.StartNew();
        await setup.Kill(Victim);

        // The repair plan: version 2, every expert on a survivor, every surviving replica where it was.
        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
        var repaired = await setup.Repaired(TimeSpan.FromSeconds(30));

        output.WriteLine($"kill to repair plan in effect: {killed.Elapsed.TotalSeconds:F2} s");
        Assert.NotNull(repaired);
        Assert.Equal(2, repaired.Version);
        var before = v1.ToPlacement();
        var after = repaired.ToPlacement();
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            for (var e = 0; e < spec.Experts; e++)
            {
                var survivors = before.PodsOf(l, e).ToArray().Where(p => p != Victim).ToArray();
                var now = after.PodsOf(l, e).ToArray();
                Assert.DoesNotContain(Victim, now);
                Assert.Equal(survivors.Length == 0 ? 1 : survivors.Length, now.Length);
                if (survivors.Length > 0)
                {
                    Assert.Equal(survivors, now);
                }
            }
        }

        // The step that found no live replica waited for the repair, and gives the reference result.
        var response = await step;
        output.WriteLine($"the waiting step answered {killed.Elapsed.TotalSeconds:F2} s after the kill");
        Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
        Assert.Equal(waitedBefore + 1, waits.Value);

        // Steps on the survivors afterwards run on the repair plan and equal the reference.
        for (var pod = 0; pod < Pods - 1; pod++)
        {
            using var ch = GrpcChannel.ForAddress(cluster.Silos[pod].RunnerAddress);
            var x = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 91 + pod);
            var later = await new MoeService.MoeServiceClient(ch).ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, x, Tokens, spec.Hidden));
            Assert.Equal(2, later.PlanVersion);
            Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, x, Tokens), TensorCodec.ReadMatrix(later.Hidden).Values) <= 1e-4);
        }

        // Asking again for the same death repairs nothing more.
        await registry.Repair(null);
        for (var i = 0; i < 20 && (await registry.GetStatus()).Phase != "Idle"; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(2, (await registry.GetActive())!.Version);
    }

    [Fact]
    public async Task SiloKilled_WhenEverySurvivorsFirstAskForTheRepairFails_TheyAskAgainUntilTheRepairPlanIsInEffect()
    {
        // The registry may live on the pod that died: the survivors' first asks then fail (or reach an activation that
        // dies before its repair is in effect). Here each survivor's first ask fails; their follow-ups bring the repair.
        var lost = Enumerable.Range(0, Pods).Select(_ => new LostAsks(first: 1)).ToArray();
        await using var setup = await Setup.Start(output, (pod, s) =>
        {
            if (pod != Victim)
            {
                s.AddSingleton<IOutgoingGrainCallFilter>(lost[pod]);
            }
        });
        var (cluster, spec, reference) = (setup.Cluster, setup.Spec, setup.Reference);

        await setup.Kill(Victim);
        var repaired = await setup.Repaired(TimeSpan.FromSeconds(60));

        Assert.Equal(Pods - 1, lost.Sum(l => l.Failed)); // every survivor's first ask failed
        Assert.True(lost.Sum(l => l.Asked) > lost.Sum(l => l.Failed), "no survivor asked for the repair again");
        Assert.NotNull(repaired);
        Assert.Equal(2, repaired.Version);
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            for (var e = 0; e < spec.Experts; e++)
            {
                Assert.DoesNotContain(Victim, repaired.ToPlacement().PodsOf(l, e).ToArray());
            }
        }

        using var channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 95);
        var response = await new MoeService.MoeServiceClient(channel).ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
    }

    [Fact]
    public async Task Step_WhenNoReplicaOfAnExpertAnswersBeforeTheDeadline_FailsUnavailableNamingTheExpert()
    {
        // Pod 2 stays a member but answers no layer work, so no repair comes: the step waits until its deadline. The
        // deadline leaves the step time to reach the wait on a loaded machine (with 3 s, CI's step was still computing
        // an earlier layer when the runner stopped it, and the caller saw DeadlineExceeded instead of the wait's error).
        await using var setup = await Setup.Start(output);
        var (cluster, spec) = (setup.Cluster, setup.Spec);
        var expired = cluster.Silos[0].App.Services.GetRequiredService<SiloMetrics>().RepairWaits.WithLabels(Model, "expired");
        var expiredBefore = expired.Value;
        using var channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        var runner = new MoeService.MoeServiceClient(channel);
        setup.Refusal.On = true;

        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 92);
        var error = await Assert.ThrowsAsync<RpcException>(() => runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);

        output.WriteLine(error.Status.Detail);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Matches("Layer [0-9]+, expert [0-9]+ of 'tiny' has no live replica", error.Status.Detail);
        Assert.Contains("before the step's deadline", error.Status.Detail, StringComparison.Ordinal);
        // The pod answered: the failure lies with another pod's experts, and the trailer says so to the gateway.
        Assert.True(StepFailure.IsElsewhere(error.Trailers.Select(t => (t.Key, t.Value))), "no experts-elsewhere trailer");
        Assert.Equal(expiredBefore + 1, expired.Value);
    }

    [Fact]
    public async Task Step_WhenThePodWithTheOnlyReplicasRefusesItsWorkAndBothProbes_DeclaresItDeadAndRunsOnTheRepairPlan()
    {
        // Pod 2's silo refuses layer work the way Orleans rejects messages to a silo whose connection failed (a kill -9),
        // and its agent refuses the probes too, while the cluster still counts it a member. Pod 0 declares it dead at
        // once instead of waiting for the cluster's probe rounds; the repair follows, and the waiting step runs on it.
        await using var setup = await Setup.Start(output);
        var (cluster, spec, reference) = (setup.Cluster, setup.Spec, setup.Reference);
        var waits = cluster.Silos[0].App.Services.GetRequiredService<SiloMetrics>().RepairWaits.WithLabels(Model, "served");
        var waitedBefore = waits.Value;
        using var channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        var runner = new MoeService.MoeServiceClient(channel);
        setup.Refusal.Error = () => new SiloUnavailableException("pod 2's connection failed (test)");
        setup.Refusal.AgentDown = true;
        setup.Refusal.On = true;

        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 93);
        var response = await runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(30));

        Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
        Assert.True(waits.Value > waitedBefore, "the step did not wait for the repair plan"); // then ran on it
        Assert.Equal(1, setup.Probes("declared-dead"));
        Assert.Equal(SiloStatus.Dead, setup.StatusOf(Victim));
        var repaired = await cluster.Grains.GetGrain<IPlanRegistryGrain>(Model).GetActive();
        Assert.Equal(2, repaired!.Version);
        var after = repaired.ToPlacement();
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            for (var e = 0; e < spec.Experts; e++)
            {
                Assert.DoesNotContain(Victim, after.PodsOf(l, e).ToArray());
            }
        }
    }

    [Fact]
    public async Task Step_WhenThePodRefusesItsWorkButItsAgentAnswersTheProbe_LeavesThePodAMember()
    {
        // Pod 2's layer work is refused as by a failed connection, but the pod itself answers: it is not declared dead,
        // nothing is repaired, and the step waits for its deadline as before.
        await using var setup = await Setup.Start(output);
        var (cluster, spec) = (setup.Cluster, setup.Spec);
        using var channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
        var runner = new MoeService.MoeServiceClient(channel);
        setup.Refusal.Error = () => new SiloUnavailableException("pod 2's connection failed (test)");
        setup.Refusal.On = true;

        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 94);
        var error = await Assert.ThrowsAsync<RpcException>(() => runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);
        for (var i = 0; i < 200 && setup.Probes("answered") == 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.True(setup.Probes("answered") >= 1, "pod 2 was not probed");
        Assert.Equal(0, setup.Probes("declared-dead"));
        Assert.Equal(SiloStatus.Active, setup.StatusOf(Victim));
        Assert.Equal(1, (await cluster.Grains.GetGrain<IPlanRegistryGrain>(Model).GetActive())!.Version);
    }

    /// <summary>A three-silo cluster serving <c>tiny</c> under a plan where pod 2 holds the only replicas of a third of the experts.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        private readonly TempDirectory _dir;

        private Setup(TempDirectory dir, EmbeddedCluster cluster, MoeCloud.Model.Spec.ModelSpec spec, ReferenceForward reference, WirePlan plan, Refusal refusal)
        {
            _dir = dir;
            Refusal = refusal;
            Cluster = cluster;
            Spec = spec;
            Reference = reference;
            Plan = plan;
        }

        public EmbeddedCluster Cluster { get; }

        public MoeCloud.Model.Spec.ModelSpec Spec { get; }

        public ReferenceForward Reference { get; }

        public WirePlan Plan { get; }

        /// <summary>Switches pod 2's answers to layer work off.</summary>
        public Refusal Refusal { get; }

        public static async Task<Setup> Start(ITestOutputHelper output, Action<int, IServiceCollection>? services = null)
        {
            var dir = new TempDirectory();
            var (spec, vocab) = SyntheticModelPresets.Get("tiny");
            SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 5 });
            ReferenceForward reference;
            using (var checkpoint = ModelCheckpoint.Open(dir.Combine(Model)))
            {
                reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
            }

            var refusal = new Refusal();
            var logs = new TestOutputLogging(output);
            var cluster = await EmbeddedCluster.Start(Pods, new Dictionary<string, string> { [Model] = dir.Combine(Model) }, TestOutputLogging.Levels, services: (pod, s) =>
            {
                logs.AddTo(pod, s);
                services?.Invoke(pod, s);
                if (pod == Victim)
                {
                    s.AddSingleton<IIncomingGrainCallFilter>(refusal);
                }
            });
            // Expert 0 of every layer on every pod; every other expert on one pod only, a third of them on pod 2.
            var plan = WirePlan.FromAssignment(Model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => e == 0 ? [0, 1, 2] : [(e + l) % Pods]);
            await cluster.Publish(plan);
            return new Setup(dir, cluster, spec, reference, plan, refusal);
        }

        /// <summary>The active plan once its version is above 1 (a repair took effect), or null after <paramref name="within"/>.</summary>
        public async Task<WirePlan?> Repaired(TimeSpan within)
        {
            var registry = Cluster.Grains.GetGrain<IPlanRegistryGrain>(Model);
            for (var waited = Stopwatch.StartNew(); ; await Task.Delay(50))
            {
                if (await registry.GetActive() is { Version: > 1 } active)
                {
                    return active;
                }

                if (waited.Elapsed > within)
                {
                    return null;
                }
            }
        }

        /// <summary>The status pod 0's silo sees for <paramref name="pod"/>'s silo in the cluster membership.</summary>
        public SiloStatus StatusOf(int pod) =>
            Cluster.Silos[0].App.Services.GetRequiredService<IClusterMembershipService>().CurrentSnapshot.Members.Values.Single(m => PodNames.PodOfSiloName(m.Name) == pod).Status;

        /// <summary>The probes of pods that refused layer work with <paramref name="outcome"/>, over the silos other than the victim's.</summary>
        public int Probes(string outcome) =>
            (int)Cluster.Silos.Where((_, pod) => pod != Victim).Sum(s => s.App.Services.GetRequiredService<SiloMetrics>().UnreachableProbes.WithLabels(outcome).Value);

        /// <summary>Stops pod <paramref name="pod"/>'s silo without the graceful handshake: it leaves no word in membership, hands over nothing.</summary>
        public async Task Kill(int pod) => await Cluster.Silos[pod].App.StopAsync(new CancellationToken(canceled: true));

        public async ValueTask DisposeAsync()
        {
            await Cluster.DisposeAsync();
            _dir.Dispose();
        }
    }

    /// <summary>
    /// Fails the first <c>first</c> asks for a repair (<see cref="IPlanRegistryGrain.Repair"/>) that the silo it is
    /// added to sends, as Orleans fails a call to an activation on a silo that just died.
    /// </summary>
    private sealed class LostAsks(int first) : IOutgoingGrainCallFilter
    {
        private int _asked, _failed;

        /// <summary>Asks sent, failed ones included.</summary>
        public int Asked => Volatile.Read(ref _asked);

        /// <summary>Asks failed on purpose.</summary>
        public int Failed => Volatile.Read(ref _failed);

        public Task Invoke(IOutgoingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name == nameof(IPlanRegistryGrain.Repair))
            {
                if (Interlocked.Increment(ref _asked) <= first)
                {
                    Interlocked.Increment(ref _failed);
                    throw new SiloUnavailableException("the registry's silo died (test)");
                }
            }

            return context.Invoke();
        }
    }

    /// <summary>
    /// While <see cref="On"/>, the silo it is added to fails every layer work sent to it (its pod answers nothing) with
    /// <see cref="Error"/>; with <see cref="AgentDown"/>, its pod agent's <see cref="IPodAgentGrain.Describe"/> fails the
    /// same way.
    /// </summary>
    private sealed class Refusal : IIncomingGrainCallFilter
    {
        public volatile bool On;
        public volatile bool AgentDown;
        public Func<Exception> Error = () => new InvalidOperationException("pod 2 does not answer (test)");
        public int Refused;

        public Task Invoke(IIncomingGrainCallContext context)
        {
            if (On && context.Grain is PodExpertsGrain && context.InterfaceMethod?.Name == nameof(IPodExpertsGrain.Run))
            {
                Interlocked.Increment(ref Refused);
                throw Error();
            }

            if (On && AgentDown && context.Grain is PodAgentGrain && context.InterfaceMethod?.Name == nameof(IPodAgentGrain.Describe))
            {
                throw Error();
            }

            return context.Invoke();
        }
    }
}
