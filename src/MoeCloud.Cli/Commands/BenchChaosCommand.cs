using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using MoeCloud.Abstractions;
using MoeCloud.Cli.Cluster;
using MoeCloud.Cli.Hosting;
using MoeCloud.Client;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl bench chaos</c>: steady load through the gateway in front of a local cluster (every expert on two pods)
/// while one fault strikes a third of the way in: a silo process (or, with <c>--mode containers</c>, a silo container)
/// killed (SIGKILL) or stopped (SIGTERM), one of two gateway replicas crashed and restarted, the Redis membership store
/// crashed and restarted, one silo cut off the network and healed, or the silo holding the only replicas of some
/// experts killed, so that the repair plan must re-place them. Each result is compared with the single-process
/// reference. Each scenario runs on a fresh cluster (<see cref="IChaosRig"/>: the same scenario code in every mode).
/// The silo scenarios are in this file; the others in <c>BenchChaosCommand.Faults.cs</c>.
/// </summary>
public static partial class BenchChaosCommand
{
    private const string Model = "tiny";
    private const int Tokens = 4;
    private const int Inputs = 16;
    private static readonly string[] AllScenarios = ["kill", "term", "gateway-restart", "redis-restart", "partition", "kill-sole-replica"];

    /// <summary>The scenarios an embedded cluster can run: it has no silo processes, no Redis and no network namespaces.</summary>
    private static readonly string[] EmbeddedScenarios = ["gateway-restart"];

    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench chaos",
            "Steady load through the gateway while one fault strikes: a silo killed (kill -9) or stopped (SIGTERM), a gateway replica crashed and restarted, Redis restarted, a silo cut off the network, the only replica of some experts killed: failed and wrong results, recovery and repair time.",
            "",
            [
                new("seconds", "<s> seconds of load per scenario, the fault a third of the way in (default 30, in [4, 600])"),
                new("outage", "<s> how long a restart or partition keeps its fault (default a third of --seconds, in [1, 300])"),
                new("redis-data", "<kept|lost> whether Redis restarts with its data (saved before the crash, as with persistence) or empty (default kept)"),
                new("silos", "<N> silos (default 3, in [3, 8])"),
                new("concurrency", "<N> requests in flight (default 4, in [1, 64])"),
                new("mode", "<mode> processes (default), containers (every scenario: MoeCloud's images in podman, as the operator configures the pods) or embedded (gateway-restart only: an embedded cluster has no processes, Redis or namespaces)"),
                new("image-tag", $"<tag> containers mode: the tag of the images infra/images/build.sh built (default {ContainerCluster.DefaultTag})"),
                new("scenarios", $"<list> comma-separated, of {string.Join(", ", AllScenarios)} (default all that the mode and machine allow)"),
                new("scenario", "<name> one scenario (the same as --scenarios <name>)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        int seconds = args.GetInt("seconds", 30, 4, 600), silos = args.GetInt("silos", 3, 3, 8), concurrency = args.GetInt("concurrency", 4, 1, 64);
        var outage = args.GetInt("outage", Math.Max(1, seconds / 3), 1, 300);
        var mode = args.Get("mode") ?? "processes";
        if (mode is not ("processes" or "embedded" or "containers"))
        {
            throw new UsageException($"option '--mode' takes processes, containers or embedded, not '{mode}'");
        }

        var redisData = args.Get("redis-data") ?? "kept";
        if (redisData is not ("kept" or "lost"))
        {
            throw new UsageException($"option '--redis-data' takes kept or lost, not '{redisData}'");
        }

        var log = console.Error;
        var scenarios = await Scenarios(args, mode, log);
        var tag = args.Get("image-tag") ?? ContainerCluster.DefaultTag;
        if (mode == "containers" && await ContainerCluster.Unavailable(tag, ct) is { } missing)
        {
            await log.WriteLineAsync($"moectl bench chaos: --mode containers cannot run here: {missing}.");
            return Moectl.Failed;
        }

        var modelDir = await DemoDeployment.EnsureModel(Model, seed: 1, log, ct);
        var setup = Prepare(mode, silos, concurrency, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(outage), redisData == "kept", modelDir, tag);

        var results = new List<ChaosResult>();
        foreach (var scenario in scenarios)
        {
            await log.WriteLineAsync($"{scenario}: {silos} silos ({mode}), {concurrency} requests in flight for {seconds} s, the fault after {seconds / 3} s");
            results.Add(await RunScenario(scenario, setup, ct));
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { scenarios = results });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["scenario", "requests", "failed", "wrong", "recovery (s)", "outage (s)", "failed in outage", "victim exit (s)", "repair (s)", "after: failed/requests", "note"],
            results.Select(r => (IReadOnlyList<string>)[r.Name, Text(r.Requests), Text(r.Failed), Text(r.Wrong), Seconds(r.RecoverySeconds), Seconds(r.OutageSeconds), Text(r.FailedInOutage), Seconds(r.VictimExitSeconds), Seconds(r.RepairSeconds), $"{r.AfterFailed}/{r.AfterRequests}", r.Note ?? ""])));
        return Moectl.Ok;
    }

    /// <summary>
    /// A run's settings and its load: <see cref="Inputs"/> seeded requests of <see cref="Tokens"/> tokens through every
    /// MoE layer of the checkpoint in <paramref name="modelDirectory"/>, each with its single-process reference result.
    /// </summary>
    public static ChaosSetup Prepare(string mode, int silos, int concurrency, TimeSpan duration, TimeSpan outage, bool redisKeepsData, string modelDirectory, string imageTag = ContainerCluster.DefaultTag)
    {
        using var checkpoint = ModelCheckpoint.Open(modelDirectory);
        var spec = checkpoint.Spec;
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
        var inputs = Enumerable.Range(0, Inputs).Select(i => RuntimeCommands.RandomHidden(Tokens, spec.Hidden, seed: 1000 + i)).ToArray();
        var expected = inputs.Select(x => reference.ForwardStack(0, spec.MoeLayers - 1, x, Tokens)).ToArray();
        var load = new ChaosLoad(spec.Hidden, spec.MoeLayers, Tokens, inputs, expected);
        return new ChaosSetup(mode, silos, concurrency, duration, outage, redisKeepsData, modelDirectory, spec.MoeLayers, spec.Experts, load, imageTag);
    }

    /// <summary>One scenario on a fresh cluster: load, the fault a third of the way in, then a check that every pod's share is served again.</summary>
    public static Task<ChaosResult> RunScenario(string scenario, ChaosSetup setup, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(setup);
        if (setup.Mode == "embedded" && AllScenarios.Contains(scenario, StringComparer.Ordinal) && !EmbeddedScenarios.Contains(scenario, StringComparer.Ordinal))
        {
            throw new ArgumentException($"scenario '{scenario}' does not run embedded (embedded mode runs {string.Join(", ", EmbeddedScenarios)})", nameof(scenario));
        }

        return scenario switch
        {
            "kill" => SiloStop(kill: true, setup, ct),
            "term" => SiloStop(kill: false, setup, ct),
            "gateway-restart" => GatewayRestart(setup, ct),
            "redis-restart" => RedisRestart(setup, ct),
            "partition" => Partition(setup, ct),
            "kill-sole-replica" => KillSoleReplica(setup, ct),
            _ => throw new ArgumentException($"unknown chaos scenario '{scenario}' ({string.Join(", ", AllScenarios)})", nameof(scenario)),
        };
    }

    /// <summary>The scenarios to run: those asked for, each checked against the mode and this machine, or all that can run.</summary>
    private static async Task<string[]> Scenarios(CliArgs args, string mode, TextWriter log)
    {
        var asked = args.Get("scenarios") ?? args.Get("scenario");
        if (asked is null)
        {
            var all = mode == "embedded" ? EmbeddedScenarios : AllScenarios;
            if (mode == "embedded")
            {
                await log.WriteLineAsync($"embedded mode runs {string.Join(", ", EmbeddedScenarios)} only: an embedded cluster has no silo processes to kill, no Redis and no network namespaces.");
            }

            // Containers are cut off with podman; silo processes need a network namespace each.
            if (mode == "processes" && ShapedNetwork.Unavailable() is { } why)
            {
                await log.WriteLineAsync($"partition skipped: {why}.");
                return [.. all.Where(s => s != "partition")];
            }

            return all;
        }

        var scenarios = asked.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (scenarios.Length == 0 || scenarios.Any(s => !AllScenarios.Contains(s, StringComparer.Ordinal)))
        {
            throw new UsageException($"options '--scenarios' and '--scenario' take {string.Join(", ", AllScenarios)} (comma-separated), not '{asked}'");
        }

        if (mode == "embedded" && scenarios.FirstOrDefault(s => !EmbeddedScenarios.Contains(s, StringComparer.Ordinal)) is { } process)
        {
            throw new UsageException($"scenario '{process}' needs --mode processes or containers: an embedded cluster has no silo processes, Redis or network namespaces (embedded mode runs {string.Join(", ", EmbeddedScenarios)} only)");
        }

        if (mode == "processes" && scenarios.Contains("partition", StringComparer.Ordinal) && ShapedNetwork.Unavailable() is { } unavailable)
        {
            throw new UsageException($"scenario 'partition' needs a network namespace per pod: {unavailable} (or --mode containers, which cuts a container off with podman)");
        }

        return scenarios;
    }

    /// <summary>
    /// kill -9 (<paramref name="kill"/>) or SIGTERM of the last pod's silo process (by its pid) or silo container
    /// (<c>podman kill</c>), which is not restarted.
    /// </summary>
    private static async Task<ChaosResult> SiloStop(bool kill, ChaosSetup setup, CancellationToken ct)
    {
        var victim = setup.Silos - 1;
        await using var rig = await StartRig(setup, TwoReplicas(setup), gateways: 1, network: false, ct);
        return await Measure(kill ? $"kill -9 of one {rig.Silo}" : $"SIGTERM of one {rig.Silo}", rig.Client, setup, async clock =>
        {
            var at = clock.Elapsed.TotalSeconds;
            await rig.StopSilo(victim, kill, ct);
            var code = await WaitForSiloExit(rig, victim, ct);
            return new ChaosFault(at, null, clock.Elapsed.TotalSeconds - at, setup.Mode == "containers" ? $"the silo container exited with {code}" : null);
        }, ct);
    }

    /// <summary>Waits, up to a minute, until pod <paramref name="pod"/>'s silo has exited; its exit code.</summary>
    private static async Task<int> WaitForSiloExit(IChaosRig rig, int pod, CancellationToken ct)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        return await rig.WaitForSiloExit(pod, bound.Token);
    }

    /// <summary>Every expert on two pods, so whatever one pod held has a replica on another.</summary>
    private static WirePlan TwoReplicas(ChaosSetup setup) =>
        WirePlan.FromAssignment(Model, 1, setup.Silos, setup.Layers, setup.Experts, (l, e) => [(e + l) % setup.Silos, (e + l + 1) % setup.Silos]);

    /// <summary>The client every scenario uses: the default retry policy, a 10 s deadline.</summary>
    private static MoeCloudClientOptions ClientOptions(string apiKey) => new() { ApiKey = apiKey, Deadline = TimeSpan.FromSeconds(10) };

    /// <summary>
    /// Warms every pod, runs the load with <paramref name="fault"/> a third of the way in (it gets the load's clock and
    /// returns when the fault is over), then sends a round of requests one at a time and summarizes.
    /// </summary>
    private static async Task<ChaosResult> Measure(string name, MoeCloudClient client, ChaosSetup setup, Func<Stopwatch, Task<ChaosFault>> fault, CancellationToken ct)
    {
        for (var i = 0; i < 2 * setup.Silos; i++)
        {
            await setup.Load.Send(client, i, ct); // warm: every pod (and gateway) has served before the clock starts
        }

        var clock = Stopwatch.StartNew();
        var records = new ConcurrentBag<ChaosRecord>();
        var faulted = Task.Run(
            async () =>
            {
                await Task.Delay(setup.Duration / 3, ct);
                return await fault(clock);
            },
            ct);
        await Task.WhenAll(Enumerable.Range(0, setup.Concurrency).Select(lane => Task.Run(
            async () =>
            {
                for (var n = 0; clock.Elapsed < setup.Duration; n++)
                {
                    var start = clock.Elapsed.TotalSeconds;
                    var outcome = await setup.Load.Send(client, (lane * 7919) + n, ct);
                    records.Add(new ChaosRecord(start, clock.Elapsed.TotalSeconds, outcome));
                }
            },
            ct)));
        var f = await faulted;

        // Full service again: every request of a second round succeeds with the reference result.
        var after = new List<ChaosRecord>();
        for (var i = 0; i < 4 * setup.Silos; i++)
        {
            var start = clock.Elapsed.TotalSeconds;
            var outcome = await setup.Load.Send(client, 50_000 + i, ct);
            after.Add(new ChaosRecord(start, clock.Elapsed.TotalSeconds, outcome));
        }

        // Recovery: from the fault to the first success that started after the last bad answer, under load or, when
        // the load ended before one, in the round after it; null when nothing succeeded after the last bad answer.
        var all = records.ToArray();
        var bad = all.Where(r => r.Outcome.Status != ChaosStatus.Ok).ToArray();
        var lastBad = bad.Length == 0 ? f.At : Math.Max(f.At, bad.Max(r => r.End));
        var recovered = all.Concat(after).Where(r => r.Outcome.Status == ChaosStatus.Ok && r.Start >= lastBad).Select(r => (double?)r.End).Min();
        var healed = f.HealedAt ?? f.At;
        return new ChaosResult(
            name,
            all.Length,
            all.Count(r => r.Outcome.Status == ChaosStatus.Failed),
            all.Count(r => r.Outcome.Status == ChaosStatus.Wrong),
            recovered - f.At,
            bad.GroupBy(r => r.Outcome.Error ?? "wrong").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            after.Count,
            after.Count(r => r.Outcome.Status != ChaosStatus.Ok),
            f.VictimExitSeconds,
            f.HealedAt - f.At,
            all.Count(r => r.Outcome.Status == ChaosStatus.Failed && r.Start <= healed && r.End >= f.At),
            f.Note,
            f.RepairSeconds);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Seconds(double? value) => value is { } v ? CliOutput.Num(v, 2) : "n/a";
}

/// <summary>A chaos run's settings and load.</summary>
/// <param name="Mode">Cluster mode: <c>processes</c>, <c>containers</c> or <c>embedded</c>.</param>
/// <param name="Silos">Silos (pods).</param>
/// <param name="Concurrency">Requests in flight.</param>
/// <param name="Duration">Load per scenario; the fault strikes a third of the way in.</param>
/// <param name="Outage">How long a restart or partition keeps its fault.</param>
/// <param name="RedisKeepsData">Whether Redis restarts with its data (true) or empty.</param>
/// <param name="ModelDirectory">The checkpoint of the <c>tiny</c> model.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="Load">The requests and their reference results.</param>
/// <param name="ImageTag">Containers mode: the images' tag.</param>
public sealed record ChaosSetup(string Mode, int Silos, int Concurrency, TimeSpan Duration, TimeSpan Outage, bool RedisKeepsData, string ModelDirectory, int Layers, int Experts, ChaosLoad Load, string ImageTag = ContainerCluster.DefaultTag);

/// <summary>What a scenario's fault did, in seconds on the load's clock.</summary>
/// <param name="At">When it struck.</param>
/// <param name="HealedAt">When it was undone (the gateway or Redis back, the link up); null for a silo stopped for good.</param>
/// <param name="VictimExitSeconds">From the fault to the exit of the silo process it stopped, when one exited.</param>
/// <param name="Note">What happened to the victim, in words.</param>
/// <param name="RepairSeconds">From the fault until a repair plan was in effect (the registry's active plan newer than the one published); null when none was wanted or none came.</param>
internal sealed record ChaosFault(double At, double? HealedAt, double? VictimExitSeconds, string? Note, double? RepairSeconds = null);

/// <summary>The requests of a chaos run: seeded inputs and their reference results (max relative error ≤ 1e-4).</summary>
public sealed class ChaosLoad(int hidden, int layers, int tokens, float[][] inputs, float[][] expected)
{
    /// <summary>Sends input <paramref name="index"/> (mod the pool) and classifies the answer.</summary>
    public async Task<ChaosOutcome> Send(MoeCloudClient client, int index, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        var i = index % inputs.Length;
        try
        {
            var output = await client.ForwardAsync("tiny", inputs[i], tokens, hidden, 0, layers - 1, cancellationToken: ct);
            return ResultError.MaxRelative(expected[i], output.Hidden) <= 1e-4 ? ChaosOutcome.Ok : new ChaosOutcome(ChaosStatus.Wrong, null);
        }
        catch (RpcException e)
        {
            return new ChaosOutcome(ChaosStatus.Failed, e.StatusCode.ToString());
        }
    }
}

/// <summary>How a request ended.</summary>
public enum ChaosStatus
{
    /// <summary>Answered with the reference result.</summary>
    Ok,

    /// <summary>Answered with a result that differs from the reference.</summary>
    Wrong,

    /// <summary>Failed with a gRPC status.</summary>
    Failed,
}

/// <summary>A request's outcome and, when it failed, its gRPC status.</summary>
/// <param name="Status">Outcome.</param>
/// <param name="Error">gRPC status name of a failure.</param>
public sealed record ChaosOutcome(ChaosStatus Status, string? Error)
{
    /// <summary>Success.</summary>
    public static ChaosOutcome Ok { get; } = new(ChaosStatus.Ok, null);
}

/// <summary>A request of the run: start and end in seconds since the load started.</summary>
internal sealed record ChaosRecord(double Start, double End, ChaosOutcome Outcome);

/// <summary>A scenario's result.</summary>
/// <param name="Name">Scenario.</param>
/// <param name="Requests">Requests sent under load.</param>
/// <param name="Failed">Requests that failed (after the client's retries).</param>
/// <param name="Wrong">Requests answered with a result that differs from the reference.</param>
/// <param name="RecoverySeconds">From the fault to the first success that started after the last bad answer (or after the fault when none was bad), under load or in the round after it; null when none succeeded.</param>
/// <param name="Failures">Bad answers by gRPC status (or <c>wrong</c>).</param>
/// <param name="AfterRequests">Requests sent after the load, one at a time.</param>
/// <param name="AfterFailed">Of those, the ones that failed or were wrong.</param>
/// <param name="VictimExitSeconds">From the fault to the victim silo process's exit (a graceful stop's duration for SIGTERM); null when no silo process exited.</param>
/// <param name="OutageSeconds">How long the fault lasted (gateway or Redis down, link down); null for a silo stopped for good.</param>
/// <param name="FailedInOutage">Failed requests that were in flight at some moment between the fault and its end.</param>
/// <param name="Note">What happened to the victim, in words, where that varies (a partitioned silo that rejoined or was restarted).</param>
/// <param name="RepairSeconds">kill-sole-replica: from the kill until the repair plan was in effect (every pod adopted it); null elsewhere, or when no repair plan came within a minute.</param>
public sealed record ChaosResult(string Name, int Requests, int Failed, int Wrong, double? RecoverySeconds, IReadOnlyDictionary<string, int> Failures, int AfterRequests, int AfterFailed, double? VictimExitSeconds, double? OutageSeconds, int FailedInOutage, string? Note, double? RepairSeconds = null);
