using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Telemetry;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// One three-silo cluster serving one tiny model per gating kind (softmax top-k with a shared expert, DeepSeek-V2's
/// group-limited max-score, DeepSeek-V3's sigmoid with selection bias and top-two-sum groups, Qwen2-MoE's gated shared
/// expert). MoGE's balanced groups have no checkpoint format a pod can load; the router's own tests cover them. Each model's plan puts expert e of layer l on pod (e + l) mod 3 and expert 1 on
/// every pod, so every step mixes local, remote and redundant experts.
/// </summary>
public class GatingKindsFixture : IAsyncLifetime
{
    public const int Pods = 3;

    private readonly TempDirectory _dir = new();
    private readonly List<GrpcChannel> _channels = [];

    public static TheoryData<string> Kinds => ["softmax-shared", "group-max-score", "sigmoid-bias-top-two-sum", "qwen2-gated-shared"];

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public Dictionary<string, ReferenceForward> References { get; } = [];

    public MoeService.MoeServiceClient Runner(int pod) => new(_channels[pod]);

    public async Task InitializeAsync()
    {
        var (tiny, vocab) = SyntheticModelPresets.Get("tiny");
        var specs = new Dictionary<string, ModelSpec>
        {
            ["softmax-shared"] = tiny,
            ["group-max-score"] = tiny with { Gating = new GatingSpec { GroupSelection = GroupSelection.MaxScore, Groups = 4, TopKGroups = 2 } },
            ["sigmoid-bias-top-two-sum"] = tiny with { Family = ModelFamily.DeepseekV3, Gating = new GatingSpec { Scoring = GateScoring.Sigmoid, SelectionBias = true, NormalizeTopK = true, RoutedScalingFactor = 2.5, GroupSelection = GroupSelection.TopTwoSum, Groups = 4, TopKGroups = 2 } },
            ["qwen2-gated-shared"] = tiny with { Family = ModelFamily.Qwen2Moe, SharedExperts = 1, SharedIntermediate = tiny.ExpertIntermediate, SharedExpertGate = true, Gating = new GatingSpec() },
        };
        var models = new Dictionary<string, string>();
        foreach (var (name, spec) in specs)
        {
            var dir = _dir.Combine(name);
            SyntheticModelWriter.Write(dir, spec.Validate(), vocab, new SyntheticModelOptions { Seed = 11 });
            using var checkpoint = ModelCheckpoint.Open(dir);
            References[name] = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
            models[name] = dir;
        }

        Cluster = await EmbeddedCluster.Start(Pods, models, configure: Configure);
        foreach (var silo in Cluster.Silos)
        {
            _channels.Add(GrpcChannel.ForAddress(silo.RunnerAddress));
        }

        foreach (var (name, reference) in References)
        {
            await Cluster.Publish(Plan(name, reference.Model.Spec));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var c in _channels)
        {
            c.Dispose();
        }

        await Cluster.DisposeAsync();
        _dir.Dispose();
    }

    /// <summary>Every silo's options beyond the defaults; none here.</summary>
    protected virtual void Configure(MoeCloudSiloOptions options)
    {
    }

    public static WirePlan Plan(string model, ModelSpec spec) =>
        WirePlan.FromAssignment(model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => e == 1 ? [0, 1, 2] : [(e + l) % Pods]);

    /// <summary>The pool of the layer messages' rows and replies on <paramref name="pod"/>'s silo.</summary>
    public RowPool Rows(int pod) => Cluster.Silos[pod].App.Services.GetRequiredService<RowPool>();

    /// <summary>
    /// Sends a stack step of <paramref name="tokens"/> seeded rows over every layer to <paramref name="pod"/>'s runner,
    /// asserts that it equals the single-process reference (max relative error ≤ 1e-4) and returns the reply.
    /// </summary>
    public async Task<ForwardResponse> ForwardEqualsTheReference(string model, int pod, int tokens, int seed)
    {
        var reference = References[model];
        var spec = reference.Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed);
        var expected = reference.ForwardStack(0, spec.MoeLayers - 1, hidden, tokens);

        var response = await Runner(pod).ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, tokens, spec.Hidden));

        var error = RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values);
        Assert.True(error <= 1e-4, $"{model} on pod {pod}: max relative error {error}");
        return response;
    }

    /// <summary>The same for one layer through the layer API: <paramref name="pod"/>'s answer equals the reference layer.</summary>
    public async Task ForwardLayerEqualsTheReference(string model, int pod, int layer, int tokens, int seed)
    {
        var reference = References[model];
        var spec = reference.Model.Spec;
        var x = RequestFactory.Hidden(tokens, spec.Hidden, seed);
        var expected = reference.ForwardLayer(layer, x, tokens);

        var response = await Runner(pod).ForwardLayerAsync(new ForwardLayerRequest { Model = model, Layer = layer, Hidden = TensorCodec.WriteMatrix(x, tokens, spec.Hidden) });

        var error = RequestFactory.MaxRelativeError(expected, TensorCodec.ReadMatrix(response.Hidden).Values);
        Assert.True(error <= 1e-4, $"{model} layer {layer} on pod {pod}: max relative error {error}");
    }

    /// <summary>
    /// The activation rows a step of <paramref name="tokens"/> homed on <paramref name="pod"/> copies per the data path's
    /// rule, derived from the reference's routing and the plan: per layer, one wire gather for each remote pod a token
    /// needs, and one kernel gather per token of each expert group of two or more tokens within one micro-batch
    /// (<paramref name="parts"/>, contiguous token ranges; the whole step when it is not cut). Cutting and joining are
    /// not counted here.
    /// </summary>
    public long ExpectedCopies(string model, int pod, float[] hidden, int tokens, IReadOnlyList<(int Start, int Count)> parts)
    {
        var reference = References[model];
        var spec = reference.Model.Spec;
        var plan = ServingPlan.From(Plan(model, spec));
        long expected = 0;
        reference.ForwardStack(0, spec.MoeLayers - 1, hidden, tokens, onRouting: (l, routing) =>
        {
            foreach (var (start, count) in parts)
            {
                var perExpert = new int[spec.Experts];
                for (var t = start; t < start + count; t++)
                {
                    var remotePods = new HashSet<int>();
                    for (var s = 0; s < spec.TopK; s++)
                    {
                        var e = routing.ExpertIds[(t * spec.TopK) + s];
                        perExpert[e]++;
                        if (!plan.Holds(pod, l, e))
                        {
                            remotePods.Add(plan.PodsOf(l, e)[0]);
                        }
                    }

                    expected += remotePods.Count;
                }

                expected += perExpert.Where(c => c > 1).Sum();
            }
        });
        return expected;
    }

    /// <summary>Activation rows copied by the data path so far, over every silo.</summary>
    public double ActivationCopies(string model) =>
        Cluster.Silos.Sum(s => s.App.Services.GetRequiredService<SiloMetrics>().ActivationCopies.WithLabels(model).Value);
}

public sealed class BatchedDispatchTests(GatingKindsFixture fixture) : IClassFixture<GatingKindsFixture>
{
    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public async Task Forward_OnEveryPod_EqualsTheReference(string model)
    {
        for (var pod = 0; pod < GatingKindsFixture.Pods; pod++)
        {
            var response = await fixture.ForwardEqualsTheReference(model, pod, tokens: 9, seed: 300 + pod);

            Assert.True(response.RemoteDispatches > 0 && response.LocalDispatches > 0, $"{model} on pod {pod}: {response.LocalDispatches} local, {response.RemoteDispatches} remote dispatches; the step should mix both");
        }
    }

    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public async Task ForwardLayer_OnEveryPod_EqualsTheReferenceLayer(string model)
    {
        var layers = fixture.References[model].Model.Spec.MoeLayers;
        for (var pod = 0; pod < GatingKindsFixture.Pods; pod++)
        {
            await fixture.ForwardLayerEqualsTheReference(model, pod, layer: (pod + 1) % layers, tokens: 6, seed: 400 + pod);
        }
    }

    /// <summary>
    /// Every layer message's rows and every reply are pooled (PooledRowsCodec): after steps homed on every pod, each
    /// silo has had every array it rented returned (sent rows by the codec once written, received ones once computed
    /// or combined), none came from the process-wide fallback pool, and the results still equal the reference.
    /// </summary>
    [Theory]
    [MemberData(nameof(GatingKindsFixture.Kinds), MemberType = typeof(GatingKindsFixture))]
    public async Task Forward_OnEveryPod_ReturnsEveryPooledRowsArrayAndEqualsTheReference(string model)
    {
        var before = Enumerable.Range(0, GatingKindsFixture.Pods).Select(p => fixture.Rows(p).Rented).ToArray();
        var shared = RowPool.Shared.Rented;
        for (var pod = 0; pod < GatingKindsFixture.Pods; pod++)
        {
            await fixture.ForwardEqualsTheReference(model, pod, tokens: 7, seed: 500 + pod);
        }

        for (var pod = 0; pod < GatingKindsFixture.Pods; pod++)
        {
            var pool = fixture.Rows(pod);
            Assert.True(pool.Rented > before[pod], $"pod {pod} rented no rows: the layer messages did not use the pool");
            Assert.Equal(0, pool.Outstanding);
        }

        Assert.Equal(shared, RowPool.Shared.Rented); // each silo's codec reads into that silo's pool
    }

    /// <summary>
    /// Per layer the data path copies a token's row once into each remote pod's message that needs it, and once more
    /// into a kernel batch for each expert group of two or more tokens (a group of one runs on its row in place).
    /// The count is derived here from the reference's routing and the plan, and must equal the silos' counter exactly.
    /// </summary>
    [Fact]
    public async Task ActivationCopies_PerLayer_AreOneWireGatherPerRemotePodAndOneKernelGatherPerMultiTokenGroup()
    {
        const string model = "softmax-shared";
        const int tokens = 12, pod = 0;
        var spec = fixture.References[model].Model.Spec;
        var hidden = RequestFactory.Hidden(tokens, spec.Hidden, seed: 77);
        var expected = fixture.ExpectedCopies(model, pod, hidden, tokens, [(0, tokens)]);
        var before = fixture.ActivationCopies(model);

        await fixture.Runner(pod).ForwardAsync(RequestFactory.Forward(model, 0, spec.MoeLayers - 1, hidden, tokens, spec.Hidden));

        Assert.Equal(expected, fixture.ActivationCopies(model) - before);
        Assert.True(expected <= 2L * tokens * spec.TopK * spec.MoeLayers, $"{expected} copies for {tokens * spec.TopK * spec.MoeLayers} dispatches");
    }
}
