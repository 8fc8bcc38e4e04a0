using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Admin;

namespace MoeCloud.Operator.Tests.Support;

/// <summary>
/// A real Kestrel server that implements the admin API contract of operators/README.md for one or more deployments
/// (path prefix /{namespace}/{name}/), standing in for the gateway's admin surface, which the runtime does not serve
/// yet. A published plan reports Migrating on its first progress poll and Complete on the next, unless
/// <see cref="Hold"/> is set, which keeps every migration at Migrating until it is cleared. Like the gateway, a PUT of a
/// version the cluster already knows changes nothing; the plan in effect is the newest that reported Complete.
/// </summary>
public sealed class FakeAdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<(string Deployment, int Version), PublishedPlan> _plans = new();
    private readonly ConcurrentDictionary<string, int> _puts = new(StringComparer.Ordinal);

    private FakeAdminServer(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    /// <summary>The operator's endpoint template for this server.</summary>
    public string EndpointTemplate => Url + "{namespace}/{name}/";

    private volatile bool _hold;

    /// <summary>While true, every migration stays at Migrating.</summary>
    public bool Hold
    {
        get => _hold;
        set => _hold = value;
    }

    /// <summary>While set, every known version reports Failed with this message (a replica that cannot load).</summary>
    public string? FailWith { get; set; }

    /// <summary>The live profile served to every deployment (null: 404, no telemetry yet).</summary>
    public LiveProfile? Profile { get; set; }

    private volatile ServingSignals? _signals;

    /// <summary>The serving signals served to every deployment (null: 404, the gateway does not serve the model yet).</summary>
    public ServingSignals? Signals
    {
        get => _signals;
        set => _signals = value;
    }

    /// <summary>The model named by the last serving-signals read.</summary>
    public string? SignalsModel { get; private set; }

    /// <summary>PUTs received per deployment (publishing a version again counts again).</summary>
    public int Puts(string deployment) => _puts.GetValueOrDefault(deployment);

    /// <summary>Forgets every plan of a deployment, as a restarted plan registry would.</summary>
    public void Forget(string deployment)
    {
        foreach (var key in _plans.Keys.Where(k => k.Deployment == deployment))
        {
            _plans.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Puts a plan in effect that the operator did not write, as the silos' own repair does when an expert's only
    /// replica dies: version active + 1, <paramref name="assignment"/> (null: the active plan's), Complete at once.
    /// Returns its version.
    /// </summary>
    public int Repair(string deployment, int[][][]? assignment = null)
    {
        var active = Active(deployment) ?? throw new InvalidOperationException($"{deployment} has no plan in effect to repair");
        var repair = active with { Version = active.Version + 1, PreviousVersion = active.Version, Assignment = assignment ?? active.Assignment };
        _plans[(deployment, repair.Version)] = new PublishedPlan(repair) { Polls = 2, Completed = true };
        return repair.Version;
    }

    /// <summary>The plan in effect: the newest version whose migration has reported Complete (null: none yet).</summary>
    public PlanPublication? Active(string deployment) =>
        _plans.Where(p => p.Key.Deployment == deployment && p.Value.Completed).MaxBy(p => p.Key.Version).Value?.Plan;

    public IReadOnlyList<PlanPublication> Published(string deployment) =>
        _plans.Where(p => p.Key.Deployment == deployment).OrderBy(p => p.Key.Version).Select(p => p.Value.Plan).ToList();

    public static async Task<FakeAdminServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new FakeAdminServer(app);
        app.MapGet("/{ns}/{name}/admin/v1/profile", (string ns, string name) =>
            server.Profile is { } p ? Results.Json(p, AdminJson.Options) : Results.NotFound());
        app.MapGet("/{ns}/{name}/admin/v1/serving", (string ns, string name, string model) =>
        {
            server.SignalsModel = model;
            return server.Signals is { } s ? Results.Json(s with { Model = model }, AdminJson.Options) : Results.NotFound();
        });
        app.MapPut("/{ns}/{name}/admin/v1/plans/{version:int}", async (string ns, string name, int version, HttpRequest request) =>
        {
            var plan = await JsonSerializer.DeserializeAsync<PlanPublication>(request.Body, AdminJson.Options);
            if (plan is null || plan.Version != version)
            {
                return Results.BadRequest("the body's version must match the path");
            }

            server._puts.AddOrUpdate(name, 1, (_, n) => n + 1);
            server._plans.TryAdd((name, version), new PublishedPlan(plan));
            return Results.Accepted();
        });
        app.MapGet("/{ns}/{name}/admin/v1/plans/active", (string ns, string name) =>
            server.Active(name) is { } active ? Results.Json(active, AdminJson.Options) : Results.NotFound());
        app.MapGet("/{ns}/{name}/admin/v1/plans/{version:int}", (string ns, string name, int version) =>
        {
            if (!server._plans.TryGetValue((name, version), out var published))
            {
                return Results.NotFound();
            }

            if (server.FailWith is { } failure)
            {
                return Results.Json(new MigrationProgress(version, MigrationProgress.Failed, 0, published.Plan.Assignment!.Length, failure));
            }

            var polls = Interlocked.Increment(ref published.Polls);
            var moves = published.Plan.Assignment!.Length;
            var phase = server.Hold || polls < 2 ? MigrationProgress.Migrating : MigrationProgress.Complete;
            published.Completed |= phase == MigrationProgress.Complete;
            return Results.Json(new MigrationProgress(version, phase, phase == MigrationProgress.Complete ? moves : 0, moves, "fake"));
        });
        await app.StartAsync();
        server.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed class PublishedPlan(PlanPublication plan)
    {
        public PlanPublication Plan { get; } = plan;

        public int Polls;

        public volatile bool Completed;
    }
}
