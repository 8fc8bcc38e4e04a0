using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests;

/// <summary>
/// A real three-silo Orleans cluster in this process (localhost clustering on loopback ports), serving the synthetic
/// <c>tiny</c> model (4 MoE layers × 8 experts, top-2, hidden 64) twice: as <c>tiny</c> for serving tests and as
/// <c>tiny-telemetry</c> for the telemetry test alone. The live profile's window is <see cref="TelemetryWindowTokens"/>
/// tokens, small enough that the shared traces (about 8,300 tokens each) span more than one.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string Model = "tiny";
    public const string TelemetryModel = "tiny-telemetry";
    public const int Pods = 3;
    public const int TelemetryWindowTokens = 4096;

    private readonly TempDirectory _dir = new();
    private readonly List<GrpcChannel> _channels = [];

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public ReferenceForward Reference { get; private set; } = null!;

    public WirePlan Plan { get; private set; } = null!;

    public string ModelDirectory => _dir.Combine("tiny");

    public MoeService.MoeServiceClient Runner(int pod) => new(_channels[pod]);

    public async Task InitializeAsync()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(ModelDirectory, spec, vocab, new SyntheticModelOptions { Seed = 7 });
        using (var checkpoint = ModelCheckpoint.Open(ModelDirectory))
        {
            Reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
        }

        Cluster = await EmbeddedCluster.Start(Pods, new Dictionary<string, string> { [Model] = ModelDirectory, [TelemetryModel] = ModelDirectory }, configure: o => o.TelemetryWindowTokens = TelemetryWindowTokens);
        foreach (var silo in Cluster.Silos)
        {
            _channels.Add(GrpcChannel.ForAddress(silo.RunnerAddress));
        }

        Plan = RoundRobinPlan(Model, 1, shift: 0);
        await Cluster.Publish(Plan);
        await Cluster.Publish(RoundRobinPlan(TelemetryModel, 1, shift: 0));
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

    /// <summary>Expert e of layer l on pod (e + l + shift) mod 3; expert 0 of every layer also on every other pod (redundant replicas).</summary>
    public WirePlan RoundRobinPlan(string model, int version, int shift) =>
        WirePlan.FromAssignment(model, version, Pods, Reference.Model.Spec.MoeLayers, Reference.Model.Spec.Experts, (l, e) =>
            e == 0 ? [0, 1, 2] : [(e + l + shift) % Pods]);
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
