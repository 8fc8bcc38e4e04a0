using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Scheduling;
using MoeCloud.Gateway.Security;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A real 3-silo cluster serving the synthetic <c>tiny</c> model, and a real gateway (Kestrel, gRPC + JSON) in front of
/// it with a client key (10 000 requests/s), a slow key (1 request/s) and an admin key.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public const string Model = "tiny";
    public const string ApiKey = "client-key";
    public const string SlowKey = "slow-key";
    public const string AdminKey = "admin-key";

    private readonly TempDirectory _dir = new();

    public EmbeddedCluster Cluster { get; private set; } = null!;

    public WebApplication Gateway { get; private set; } = null!;

    public GatewayOptions Options { get; private set; } = null!;

    public ReferenceForward Reference { get; private set; } = null!;

    public string ModelDirectory => _dir.Combine("tiny");

    public Uri Grpc => new($"http://127.0.0.1:{Options.GrpcPort}");

    public Uri Http => new($"http://127.0.0.1:{Options.HttpPort}");

    public async Task InitializeAsync()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(ModelDirectory, spec, vocab, new SyntheticModelOptions { Seed = 3 });
        RoutingTrace profile;
        using (var checkpoint = ModelCheckpoint.Open(ModelDirectory))
        {
            Reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
            profile = ModelTraceRecorder.Record(checkpoint, Reference, new ModelTraceOptions { Tokens = 256, Sequences = 8 }, "profile");
        }

        TraceDirectory.Write(_dir.Combine("profile"), profile);
        Cluster = await EmbeddedCluster.Start(3, new Dictionary<string, string> { [Model] = ModelDirectory });
        await Cluster.Publish(WirePlan.FromAssignment(Model, 1, 3, spec.MoeLayers, spec.Experts, (l, e) => e % 4 == 0 ? [0, 1, 2] : [(e + l) % 3]));
        Options = NewOptions(Cluster, ModelDirectory, _dir.Combine("profile"));
        Gateway = GatewayHost.Create(Options, Cluster.Grains);
        await Gateway.StartAsync();
        await Gateway.Services.GetRequiredService<PlanWatcher>().Refresh(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await Gateway.StopAsync();
        await Gateway.DisposeAsync();
        await Cluster.DisposeAsync();
        _dir.Dispose();
    }

    public static GatewayOptions NewOptions(EmbeddedCluster cluster, string modelDirectory, string? profile)
    {
        var ports = FreePorts.Take(2);
        var options = new GatewayOptions
        {
            GrpcPort = ports[0],
            HttpPort = ports[1],
            Pods = cluster.Endpoints.Select(e => new GatewayPod { Pod = e.Pod, Runner = e.Runner.ToString(), Ops = e.Ops.ToString() }).ToList(),
            Models = new Dictionary<string, string> { [Model] = modelDirectory },
            ApiKeys =
            [
                new ApiKeyEntry { Name = "client", Sha256 = ApiKeyAuthenticator.Hash(ApiKey), RequestsPerSecond = 10_000 },
                new ApiKeyEntry { Name = "slow", Sha256 = ApiKeyAuthenticator.Hash(SlowKey), RequestsPerSecond = 1 },
            ],
            AdminKeys = [new ApiKeyEntry { Name = "admin", Sha256 = ApiKeyAuthenticator.Hash(AdminKey) }],
            MaxTokensPerRequest = 512,
            MaxRequestBytes = 4 << 20,
        };
        if (profile is not null)
        {
            options.ProfileTraces[Model] = profile;
        }

        return options;
    }

    /// <summary>
    /// Sends a full-stack step of <paramref name="tokens"/> random tokens (seeded) through <paramref name="client"/> and
    /// asserts that the result equals the reference forward (max relative error ≤ 1e-4).
    /// </summary>
    public async Task<MoeCloud.Client.StepOutput> ForwardMatchingReference(MoeCloud.Client.MoeCloudClient client, int tokens, int seed)
    {
        ArgumentNullException.ThrowIfNull(client);
        var spec = Reference.Model.Spec;
        var hidden = Hidden(tokens, spec.Hidden, seed);
        var output = await client.ForwardAsync(Model, hidden, tokens, spec.Hidden, 0, spec.MoeLayers - 1);
        Assert.True(MaxRelativeError(Reference.ForwardStack(0, spec.MoeLayers - 1, hidden, tokens), output.Hidden) <= 1e-4);
        return output;
    }

    /// <summary>Starts a gateway of its own (stopped and disposed with the returned handle).</summary>
    public static async Task<RunningGateway> StartGateway(GatewayOptions options, IGrainFactory grains)
    {
        var app = GatewayHost.Create(options, grains);
        await app.StartAsync();
        return new RunningGateway(app);
    }

    public static float[] Hidden(int tokens, int hidden, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, tokens * hidden).Select(_ => (float)((rng.NextDouble() * 2) - 1)).ToArray();
    }

    public static double MaxRelativeError(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = Math.Max(expected.Max(Math.Abs), 1e-12f);
        return expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max() / scale;
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}

/// <summary>A gateway a test started; disposing it stops it.</summary>
public sealed class RunningGateway(WebApplication app) : IAsyncDisposable
{
    public WebApplication App { get; } = app;

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
