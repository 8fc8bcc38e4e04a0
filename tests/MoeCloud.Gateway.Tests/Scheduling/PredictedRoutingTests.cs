using System.Runtime.InteropServices;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Gateway.Tests.Scheduling;

/// <summary>
/// A one-pod cluster serving the synthetic <c>tiny</c> model with non-uniform RMSNorm weights (with unit weights the norm
/// only scales each token, which never changes its top-k, so normalising twice or not at all would go unnoticed).
/// </summary>
public sealed class NormedModelCluster : IAsyncLifetime
{
    public const string Model = "tiny";

    private readonly TempDirectory _dir = new();

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public string ModelDirectory => _dir.Combine(Model);

    public async Task InitializeAsync()
    {
        var (spec, vocab) = SyntheticModelPresets.Get(Model);
        SyntheticModelWriter.Write(ModelDirectory, spec, vocab, new SyntheticModelOptions { Seed = 5 });
        using (var checkpoint = ModelCheckpoint.Open(ModelDirectory))
        {
            var rng = new Random(17);
            for (var l = 0; l < spec.MoeLayers; l++)
            {
                var (file, info) = checkpoint.Locate(TensorNaming.Norm(spec.ModelLayerOf(l)));
                Assert.Equal(WeightDType.F32, info.DType);
                var weights = Enumerable.Range(0, spec.Hidden).Select(_ => (float)(0.05 + (rng.NextDouble() * 3))).ToArray();
                using var stream = new FileStream(file.Path, FileMode.Open, FileAccess.Write);
                stream.Position = file.DataOffset + info.Begin;
                stream.Write(MemoryMarshal.AsBytes(weights.AsSpan()));
            }
        }

        Cluster = await EmbeddedCluster.Start(1, new Dictionary<string, string> { [Model] = ModelDirectory });
        await Cluster.Publish(WirePlan.FromAssignment(Model, 1, 1, spec.MoeLayers, spec.Experts, (_, _) => [0]));
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        _dir.Dispose();
    }
}

/// <summary>The gateway predicts a step's first-layer routing exactly as the runner then routes it, on both APIs.</summary>
public sealed class PredictedRoutingTests(NormedModelCluster fixture) : IClassFixture<NormedModelCluster>
{
    private const int Tokens = 32;

    [Theory]
    [InlineData(false, 0, 2)] // stack API over every MoE layer: the runner normalises the residual stream first
    [InlineData(false, 1, 2)]
    [InlineData(true, 0, 0)] // layer API: the client sends the layer's normalised input, which the runner routes as given
    [InlineData(true, 2, 2)]
    public async Task Choose_PredictsTheFirstLayersExpertIds_ThatTheRunnerUses(bool layerApi, int firstLayer, int lastLayer)
    {
        var gates = GateModel.Load(NormedModelCluster.Model, fixture.ModelDirectory);
        var spec = gates.Spec;
        Assert.Equal(3, spec.MoeLayers); // the InlineData layers
        var hidden = GatewayFixture.Hidden(Tokens, spec.Hidden, 40 + firstLayer);
        var scheduler = new PreScheduler(gates, HomePolicyName.Speculative);

        var predicted = scheduler.Choose(firstLayer, hidden, normalized: layerApi, Tokens, null, null, [0], _ => 0).Known;
        var used = await RunnerFirstLayerIds(layerApi, firstLayer, lastLayer, hidden, spec.Hidden, spec.TopK);

        Assert.Equal(used, predicted);
        // The other reading of the input routes differently here, so the equality above tells the two apart.
        Assert.NotEqual(used, gates.Route(firstLayer, hidden, Tokens, normalized: !layerApi));
    }

    /// <summary>The expert ids the runner used at <paramref name="firstLayer"/>, int16 <c>[tokens, topK]</c>, from its <c>ForwardResponse.expert_ids</c>.</summary>
    private async Task<short[]> RunnerFirstLayerIds(bool layerApi, int firstLayer, int lastLayer, float[] hidden, int hiddenSize, int topK)
    {
        using var channel = GrpcChannel.ForAddress(fixture.Cluster.Endpoints[0].Runner);
        var runner = new MoeService.MoeServiceClient(channel);
        var tensor = TensorCodec.WriteMatrix(hidden, Tokens, hiddenSize);
        var response = layerApi
            ? await runner.ForwardLayerAsync(new ForwardLayerRequest { Model = NormedModelCluster.Model, Layer = firstLayer, Hidden = tensor })
            : await runner.ForwardAsync(new ForwardRequest { Model = NormedModelCluster.Model, FirstLayer = firstLayer, LastLayer = lastLayer, Hidden = tensor });
        var ids = MemoryMarshal.Cast<byte, short>(response.ExpertIds.Span);
        var layers = lastLayer - firstLayer + 1;
        Assert.Equal(Tokens * layers * topK, ids.Length);
        Assert.Equal(topK, response.TopK);
        var first = new short[Tokens * topK];
        for (var t = 0; t < Tokens; t++)
        {
            ids.Slice(t * layers * topK, topK).CopyTo(first.AsSpan(t * topK, topK));
        }

        return first;
    }
}
