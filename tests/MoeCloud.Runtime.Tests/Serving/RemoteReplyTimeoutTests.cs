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

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// A pod cut off the network (link down, no reset): it stays a member, nothing fails, its layer work just gets no
/// answer. The runner bounds the wait (<see cref="MoeCloudSiloOptions.RemoteReplyTimeout"/>) and retries the work on
/// the experts' other replicas, well inside the step's deadline.
/// </summary>
public sealed class RemoteReplyTimeoutTests
{
    private const string Model = "tiny";
    private const int Pods = 3, Tokens = 8, Silent = 2;

    /// <summary>
    /// The reply timeout of these tests: the silo's default, far above a healthy pod's answer even on a loaded machine.
    /// A shorter one (250 ms) let a healthy pod time out under CI load too; with both replicas of an expert presumed
    /// unreachable the step then waited for a repair plan and failed.
    /// </summary>
    private static readonly TimeSpan HealthyAnswerBound = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Step_WhenAPodNeverAnswersItsLayerWork_RetriesOnOtherReplicasAndEqualsTheReference()
    {
        await using var setup = await Setup.Start(o => o.RemoteReplyTimeout = HealthyAnswerBound);
        var (spec, reference, silence, runner) = (setup.Spec, setup.Reference, setup.Silence, setup.Runner);
        var timeouts = setup.Timeouts;
        var timeoutsBefore = timeouts.Value;
        var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 93);

        // Without a bound of its own, the runner would wait for Orleans's response timeout (30 s) and miss this deadline.
        silence.On = true;
        var response = await runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(15));

        Assert.True(Volatile.Read(ref silence.Held) > 0, "the step sent pod 2 no layer work");
        Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
        Assert.True(timeouts.Value > timeoutsBefore, "no layer message was counted as timed out");
    }

    [Fact]
    public async Task Step_AfterAPodWentUnanswered_SendsItsExpertsToOtherReplicasWithoutWaitingForItAgain()
    {
        await using var setup = await Setup.Start(o =>
        {
            o.RemoteReplyTimeout = HealthyAnswerBound;
            o.AvoidFailedPodFor = TimeSpan.FromMinutes(5); // longer than this test, however loaded the machine
        });
        var (spec, reference, silence, runner) = (setup.Spec, setup.Reference, setup.Silence, setup.Runner);
        var timeouts = setup.Timeouts;

        // The first step meets the silence and pays the timeout.
        silence.On = true;
        var first = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 94);
        await runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, first, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.True(Volatile.Read(ref silence.Held) > 0, "the first step sent pod 2 no layer work");
        var (heldAfterFirst, timeoutsAfterFirst) = (Volatile.Read(ref silence.Held), timeouts.Value);

        // The next steps send pod 2's experts to their other replicas: pod 2 gets no layer work, nothing times out.
        for (var i = 0; i < 3; i++)
        {
            var input = RequestFactory.Hidden(Tokens, spec.Hidden, seed: 95 + i);
            var response = await runner.ForwardAsync(RequestFactory.Forward(Model, 0, spec.MoeLayers - 1, input, Tokens, spec.Hidden), deadline: DateTime.UtcNow.AddSeconds(30));
            Assert.True(RequestFactory.MaxRelativeError(reference.ForwardStack(0, spec.MoeLayers - 1, input, Tokens), TensorCodec.ReadMatrix(response.Hidden).Values) <= 1e-4);
        }

        Assert.Equal(heldAfterFirst, Volatile.Read(ref silence.Held));
        Assert.Equal(timeoutsAfterFirst, timeouts.Value);
    }

    /// <summary>
    /// Three silos serving <c>tiny</c> with every expert on two pods (whatever pod 2 holds has a replica elsewhere), pod 2
    /// behind a <see cref="Silence"/>, and a runner client of pod 0.
    /// </summary>
    private sealed class Setup : IAsyncDisposable
    {
        private readonly TempDirectory _dir;
        private readonly GrpcChannel _channel;

        private Setup(TempDirectory dir, EmbeddedCluster cluster, MoeCloud.Model.Spec.ModelSpec spec, ReferenceForward reference, Silence silence)
        {
            _dir = dir;
            Cluster = cluster;
            Spec = spec;
            Reference = reference;
            Silence = silence;
            _channel = GrpcChannel.ForAddress(cluster.Silos[0].RunnerAddress);
            Runner = new MoeService.MoeServiceClient(_channel);
        }

        public EmbeddedCluster Cluster { get; }

        public MoeCloud.Model.Spec.ModelSpec Spec { get; }

        public ReferenceForward Reference { get; }

        public Silence Silence { get; }

        public MoeService.MoeServiceClient Runner { get; }

        /// <summary>Pod 0's count of layer messages that timed out.</summary>
        public Prometheus.Counter.Child Timeouts => Cluster.Silos[0].App.Services.GetRequiredService<SiloMetrics>().RemoteFailures.WithLabels(Model, "timeout");

        public static async Task<Setup> Start(Action<MoeCloudSiloOptions> configure)
        {
            var dir = new TempDirectory();
            var (spec, vocab) = SyntheticModelPresets.Get(Model);
            SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 5 });
            ReferenceForward reference;
            using (var checkpoint = ModelCheckpoint.Open(dir.Combine(Model)))
            {
                reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
            }

            var silence = new Silence();
            var cluster = await EmbeddedCluster.Start(
                Pods,
                new Dictionary<string, string> { [Model] = dir.Combine(Model) },
                configure: configure,
                services: (pod, s) =>
                {
                    if (pod == Silent)
                    {
                        s.AddSingleton<IIncomingGrainCallFilter>(silence);
                    }
                });
            await cluster.Publish(WirePlan.FromAssignment(Model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % Pods, (e + l + 1) % Pods]));
            return new Setup(dir, cluster, spec, reference, silence);
        }

        public async ValueTask DisposeAsync()
        {
            // The held calls answer late (their replies are ignored), so that the cluster stops promptly.
            Silence.Release();
            _channel.Dispose();
            await Cluster.DisposeAsync();
            _dir.Dispose();
        }
    }

    /// <summary>While <see cref="On"/>, the silo it is added to holds every layer work sent to it until <see cref="Release"/>.</summary>
    private sealed class Silence : IIncomingGrainCallFilter
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public volatile bool On;
        public int Held;

        public void Release() => _released.TrySetResult();

        public async Task Invoke(IIncomingGrainCallContext context)
        {
            if (On && context.Grain is PodExpertsGrain && context.InterfaceMethod?.Name == nameof(IPodExpertsGrain.Run))
            {
                Interlocked.Increment(ref Held);
                await _released.Task;
            }

            await context.Invoke();
        }
    }
}
