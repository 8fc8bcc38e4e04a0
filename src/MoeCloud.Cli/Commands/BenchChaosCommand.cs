using System.Collections.Concurrent;
using System.Diagnostics;
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
/// <c>moectl bench chaos</c>: steady load through the gateway in front of a silo-process cluster (every expert on two
/// pods) while one silo is killed (SIGKILL) or stopped (SIGTERM); each result is compared with the single-process
/// reference. Each scenario runs on a fresh cluster.
/// </summary>
public static class BenchChaosCommand
{
    private const string Model = "tiny";
    private const int Tokens = 4;
    private const int Inputs = 16;
    private static readonly string[] AllScenarios = ["kill", "term"];

    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "bench chaos",
            "Steady load through the gateway on silo processes while one silo is killed (kill -9) or stopped (SIGTERM): failed and wrong results, recovery time.",
            "",
            [
                new("seconds", "<s> seconds of load per scenario, the fault a third of the way in (default 30, in [4, 600])"),
                new("silos", "<N> silo processes (default 3, in [3, 8])"),
                new("concurrency", "<N> requests in flight (default 4, in [1, 64])"),
                new("scenarios", "<list> kill and/or term, comma-separated (default kill,term)"),
                new("json", "print JSON instead of a table", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        int seconds = args.GetInt("seconds", 30, 4, 600), silos = args.GetInt("silos", 3, 3, 8), concurrency = args.GetInt("concurrency", 4, 1, 64);
        var scenarios = (args.Get("scenarios") ?? string.Join(',', AllScenarios)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (scenarios.Length == 0 || scenarios.Any(s => !AllScenarios.Contains(s, StringComparer.Ordinal)))
        {
            throw new UsageException($"option '--scenarios' takes {string.Join(" and/or ", AllScenarios)} (comma-separated)");
        }

        var log = console.Error;
        var modelDir = await DemoDeployment.EnsureModel(Model, seed: 1, log, ct);
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        var spec = checkpoint.Spec;
        var reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
        var inputs = Enumerable.Range(0, Inputs).Select(i => RuntimeCommands.RandomHidden(Tokens, spec.Hidden, seed: 1000 + i)).ToArray();
        var expected = inputs.Select(x => reference.ForwardStack(0, spec.MoeLayers - 1, x, Tokens)).ToArray();
        var load = new ChaosLoad(spec.Hidden, spec.MoeLayers, Tokens, inputs, expected);

        var results = new List<ChaosResult>();
        foreach (var scenario in scenarios)
        {
            await log.WriteLineAsync($"{scenario}: {silos} silo processes, {concurrency} requests in flight for {seconds} s, pod {silos - 1} {(scenario == "kill" ? "killed (SIGKILL)" : "stopped (SIGTERM)")} after {seconds / 3} s");
            results.Add(await RunScenario(scenario, silos, concurrency, TimeSpan.FromSeconds(seconds), modelDir, spec.MoeLayers, spec.Experts, load, ct));
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { scenarios = results });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["scenario", "requests", "failed", "wrong", "recovery (s)", "victim exit (s)", "after: failed/requests"],
            results.Select(r => (IReadOnlyList<string>)[r.Name, r.Requests.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Failed.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Wrong.ToString(System.Globalization.CultureInfo.InvariantCulture), r.RecoverySeconds is { } recovery ? CliOutput.Num(recovery, 2) : "n/a", CliOutput.Num(r.VictimExitSeconds, 2), $"{r.AfterFailed}/{r.AfterRequests}"])));
        return Moectl.Ok;
    }

    /// <summary>One scenario on a fresh cluster: load, the fault a third of the way in, then a check that every pod's share is served again.</summary>
    public static async Task<ChaosResult> RunScenario(string scenario, int silos, int concurrency, TimeSpan duration, string modelDir, int layers, int experts, ChaosLoad load, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(load);
        var victim = silos - 1;
        await using var cluster = await ProcessCluster.Start(silos, new Dictionary<string, string> { [Model] = modelDir }, TextWriter.Null, ct);
        // Every expert on two pods, so whatever the victim held has a replica on a survivor.
        await cluster.Publish(WirePlan.FromAssignment(Model, 1, silos, layers, experts, (l, e) => [(e + l) % silos, (e + l + 1) % silos]));
        await using var gateway = await LocalGateway.Start(cluster, Model, modelDir, profile: null, HomePolicyName.Speculative, ct);
        using var client = new MoeCloudClient(gateway.GrpcAddress, new MoeCloudClientOptions { ApiKey = gateway.ApiKey, Deadline = TimeSpan.FromSeconds(10) });
        for (var i = 0; i < 2 * silos; i++)
        {
            await load.Send(client, i, ct); // warm: every pod has served before the clock starts
        }

        var clock = Stopwatch.StartNew();
        var records = new ConcurrentBag<ChaosRecord>();
        var faultAt = duration / 3;
        var fault = Task.Run(
            async () =>
            {
                await Task.Delay(faultAt, ct);
                var at = clock.Elapsed.TotalSeconds;
                if (scenario == "kill")
                {
                    cluster.Kill(victim);
                }
                else
                {
                    await cluster.Terminate(victim);
                }

                using var bound = CancellationTokenSource.CreateLinkedTokenSource(ct);
                bound.CancelAfter(TimeSpan.FromSeconds(60));
                await cluster.WaitForExit(victim, bound.Token);
                return (At: at, Exited: clock.Elapsed.TotalSeconds - at);
            },
            ct);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(lane => Task.Run(
            async () =>
            {
                for (var n = 0; clock.Elapsed < duration; n++)
                {
                    var start = clock.Elapsed.TotalSeconds;
                    var outcome = await load.Send(client, (lane * 7919) + n, ct);
                    records.Add(new ChaosRecord(start, clock.Elapsed.TotalSeconds, outcome));
                }
            },
            ct)));
        var (faultSeconds, exitSeconds) = await fault;

        // Full service again: every request of a second round succeeds with the reference result.
        var after = new List<ChaosRecord>();
        for (var i = 0; i < 4 * silos; i++)
        {
            var start = clock.Elapsed.TotalSeconds;
            var outcome = await load.Send(client, 50_000 + i, ct);
            after.Add(new ChaosRecord(start, clock.Elapsed.TotalSeconds, outcome));
        }

        // Recovery: from the fault to the first success that started after the last bad answer, under load or, when
        // the load ended before one, in the round after it; null when nothing succeeded after the last bad answer.
        var all = records.ToArray();
        var bad = all.Where(r => r.Outcome.Status != ChaosStatus.Ok).ToArray();
        var lastBad = bad.Length == 0 ? faultSeconds : Math.Max(faultSeconds, bad.Max(r => r.End));
        var recovered = all.Concat(after).Where(r => r.Outcome.Status == ChaosStatus.Ok && r.Start >= lastBad).Select(r => (double?)r.End).Min();
        return new ChaosResult(
            scenario == "kill" ? "kill -9 of one silo" : "SIGTERM of one silo",
            all.Length,
            all.Count(r => r.Outcome.Status == ChaosStatus.Failed),
            all.Count(r => r.Outcome.Status == ChaosStatus.Wrong),
            recovered - faultSeconds,
            bad.GroupBy(r => r.Outcome.Error ?? "wrong").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            after.Count,
            after.Count(r => r.Outcome.Status != ChaosStatus.Ok),
            exitSeconds);
    }
}

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
/// <param name="VictimExitSeconds">From the signal to the victim process's exit (a graceful stop's duration for SIGTERM).</param>
public sealed record ChaosResult(string Name, int Requests, int Failed, int Wrong, double? RecoverySeconds, IReadOnlyDictionary<string, int> Failures, int AfterRequests, int AfterFailed, double VictimExitSeconds);
