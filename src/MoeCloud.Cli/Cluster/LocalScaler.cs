using System.Diagnostics;
using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;
using MoeCloud.Runtime.Hosting;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// Scale steps on a local <see cref="ProcessCluster"/>, as the operator makes them in Kubernetes: new pods join, then a
/// plan uses them; experts leave, then pods drain. Plans are the Placement library's scale steps
/// (<see cref="ScalingPlanner.Next"/>) from the plan in effect, rolled out make-before-break through the model's plan
/// registry. Pods above the plan's pod count that are joined are standbys: healthy, serving nothing, and a scale-out
/// onto them is only a plan switch. One step at a time (expert-replica steps included); every call returns its timings
/// from the decision (the call).
/// </summary>
/// <param name="cluster">The cluster (its pods are 0..N−1; the plan in effect is on pods 0..P−1 with P ≤ N).</param>
/// <param name="model">The model whose plan is scaled.</param>
/// <param name="profile">Expert loads (and sampled routings, if any) the steps balance on.</param>
/// <param name="options">Move budget and timeouts; null: the defaults.</param>
public sealed class LocalScaler(ProcessCluster cluster, string model, WorkloadProfile profile, LocalScalerOptions? options = null) : IPodScaler
{
    private readonly LocalScalerOptions _options = (options ?? new LocalScalerOptions()).Validated();
    private readonly SemaphoreSlim _step = new(1, 1);
    private readonly Lock _lock = new();
    private Task _warming = Task.CompletedTask;

    /// <summary>
    /// The warm-ups of the standbys <see cref="SetStandbyAsync"/> started, still running or done (never faulted): await
    /// it to have every standby warm, as a benchmark does before it measures.
    /// </summary>
    public Task StandbyWarmups
    {
        get
        {
            lock (_lock)
            {
                return _warming;
            }
        }
    }

    /// <summary>
    /// Scales out to <paramref name="targetPods"/> plan pods: starts silos where too few standbys are joined, then
    /// publishes the next plan step onto the new pods and waits until every pod serves it, and until a new pod served
    /// a request (or <see cref="LocalScalerOptions.ServeTimeout"/> passed: then <see cref="ScaleTimings.ServedSeconds"/>
    /// is null, as without load).
    /// </summary>
    public async Task<ScaleTimings> ScaleOutAsync(int targetPods, CancellationToken cancellationToken)
    {
        await _step.WaitAsync(cancellationToken);
        try
        {
            var clock = Stopwatch.StartNew();
            var live = await Live();
            if (targetPods <= live.PodCount)
            {
                throw new ArgumentException($"a scale-out needs more than the {live.PodCount} pods of plan {live.Info.Version} (got {targetPods}).", nameof(targetPods));
            }

            // 1. New pods: the standbys, and silos started for the rest.
            var missing = targetPods - cluster.Endpoints.Count;
            if (missing > 0)
            {
                await cluster.AddSilos(missing, cancellationToken);
            }

            var joined = clock.Elapsed.TotalSeconds;
            var fresh = cluster.Endpoints.Where(e => e.Pod >= live.PodCount && e.Pod < targetPods).ToArray();
            var baseline = await SiloServing.Total(fresh, model, cancellationToken);

            // 2. The plan that uses them, in effect on every pod.
            var step = Next(live, targetPods, (live.TotalReplicas * (targetPods - live.PodCount) + targetPods - 1) / targetPods);
            var rollout = await Roll(step.Plan, clock, cancellationToken);

            // 3. The first request served on a new pod (tokens homed or dispatched there).
            var served = SiloServing.WaitForMore(fresh, model, baseline, clock, _options.ServeTimeout, cancellationToken);
            await Task.WhenAll(served, rollout.Complete);
            return new ScaleTimings(live.PodCount, targetPods, Math.Max(0, missing), 0, step.Moves, step.Plan.Info.Version, 1, joined, rollout.InEffect, await served, await rollout.Complete, null);
        }
        finally
        {
            _step.Release();
        }
    }

    /// <summary>
    /// Scales in to <paramref name="targetPods"/> plan pods: plan steps move every replica off the top pods first
    /// (each rolled out and complete before the next), then the silos above the target are stopped gracefully (SIGTERM
    /// and drain), highest first, until <paramref name="standby"/> of them are left joined as standbys.
    /// </summary>
    public async Task<ScaleTimings> ScaleInAsync(int targetPods, CancellationToken cancellationToken, int standby = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(standby);
        await _step.WaitAsync(cancellationToken);
        try
        {
            var clock = Stopwatch.StartNew();
            var live = await Live();
            if (targetPods < 1 || targetPods >= live.PodCount)
            {
                throw new ArgumentException($"a scale-in needs from 1 to {live.PodCount - 1} pods, fewer than the {live.PodCount} of plan {live.Info.Version} (got {targetPods}).", nameof(targetPods));
            }

            // 1. Experts leave first: steps under the budget until no replica is left on a leaving pod.
            var from = live.PodCount;
            var (moves, steps, inEffect) = (0, 0, 0.0);
            while (live.PodCount > targetPods)
            {
                if (++steps > _options.MaxSteps)
                {
                    throw new InvalidOperationException($"scale-in to {targetPods} pods did not finish within {_options.MaxSteps} plan steps; raise the move budget.");
                }

                var step = Next(live, targetPods, Enumerable.Range(targetPods, live.PodCount - targetPods).Sum(p => live.ReplicasOn(p).Count));
                var rollout = await Roll(step.Plan, clock, cancellationToken);
                await rollout.Complete;
                (moves, inEffect, live) = (moves + step.Moves, rollout.InEffect, step.Plan);
            }

            var planned = clock.Elapsed.TotalSeconds;

            // 2. Then the pods drain and stop, from the top.
            var stopped = 0;
            while (cluster.Endpoints.Count > targetPods + standby)
            {
                await cluster.RemoveSilo(cancellationToken);
                stopped++;
            }

            return new ScaleTimings(from, targetPods, 0, stopped, moves, live.Info.Version, steps, null, inEffect, null, planned, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            _step.Release();
        }
    }

    /// <summary>
    /// Keeps <paramref name="standby"/> silos joined above the plan's pods: starts the missing ones (the next pod
    /// indexes; at most <paramref name="maxStarts"/>) or stops the extra ones from the top, and returns how many were
    /// started (positive) or stopped (negative).
    /// </summary>
    public async Task<int> SetStandbyAsync(int standby, CancellationToken cancellationToken, int maxStarts = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(standby);
        ArgumentOutOfRangeException.ThrowIfNegative(maxStarts);
        await _step.WaitAsync(cancellationToken);
        try
        {
            var wanted = (await Live()).PodCount + standby;
            var change = Math.Min(wanted - cluster.Endpoints.Count, maxStarts);
            if (change > 0)
            {
                var started = await cluster.AddSilos(change, cancellationToken);
                lock (_lock)
                {
                    _warming = Task.WhenAll(_warming, WarmStandbys(started, cancellationToken));
                }
            }

            for (var i = change; i < 0; i++)
            {
                await cluster.RemoveSilo(cancellationToken);
            }

            return change;
        }
        finally
        {
            _step.Release();
        }
    }

    /// <inheritdoc />
    public async Task<int> PlanPodsAsync(CancellationToken cancellationToken) => (await Live()).PodCount;

    /// <summary>
    /// Warms new standbys' code, one after another, in the background: a fresh silo process runs its first requests on
    /// unoptimised code (tiered compilation), so a scale-out onto a cold standby would serve its first windows several
    /// times slower. Each standby's runner is sent whole-stack requests (16 tokens, one at a time, the standby routing
    /// them to the pods of the plan in effect: it holds no experts itself) until it is steady by the benchmarks' rule
    /// (<see cref="SteadyWarmup.WarmUp"/>, with that silo's JIT count) or
    /// <see cref="LocalScalerOptions.StandbyWarmup"/> has passed. Its kernels are not warmed: it has no weights until
    /// a plan gives it some. Best effort: a standby that fails a request, or stops, ends its warm-up without an error.
    /// </summary>
    private async Task WarmStandbys(IReadOnlyList<SiloEndpoint> standbys, CancellationToken cancellationToken)
    {
        if (_options.StandbyWarmup <= TimeSpan.Zero)
        {
            return;
        }

        await Task.Yield(); // the caller goes on: SetStandbyAsync returns once the silos are healthy
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        foreach (var standby in standbys)
        {
            try
            {
                // A standby learns the plan in effect from the registry shortly after it joins (its /readyz says when).
                var clock = Stopwatch.StartNew();
                while (!(await http.GetAsync(new Uri(standby.Ops, "/readyz"), cancellationToken)).IsSuccessStatusCode && clock.Elapsed < _options.StandbyWarmup)
                {
                    await Task.Delay(200, cancellationToken);
                }

                if (clock.Elapsed >= _options.StandbyWarmup)
                {
                    continue; // no plan within the warm-up's time: the next standby
                }

                using var channel = GrpcChannel.ForAddress(standby.Runner);
                var runner = new MoeService.MoeServiceClient(channel);
                var info = await runner.GetModelAsync(new GetModelRequest { Model = model }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken);
                const int tokens = 16;
                var inputs = Enumerable.Range(0, 4).Select(i => TensorCodec.WriteMatrix(Commands.RuntimeCommands.RandomHidden(tokens, info.Hidden, 3000 + i), tokens, info.Hidden)).ToArray();
                await SteadyWarmup.WarmUp(
                    _options.StandbyWarmup - clock.Elapsed,
                    i => runner.ForwardAsync(new ForwardRequest { Model = model, FirstLayer = 0, LastLayer = info.MoeLayers - 1, Hidden = inputs[i % inputs.Length], SequenceId = $"standby-warmup-{i}" }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: cancellationToken).ResponseAsync,
                    () => SiloScrape.Sum([standby], "moecloud_silo_jit_compiled_methods", cancellationToken));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The standby failed a request or stopped, or the cluster did: the warm-up is best effort.
            }
        }
    }

    /// <summary>
    /// One <see cref="ExpertReplicaAutoscaler"/> step on the plan in effect and <paramref name="load"/>; when it changes
    /// replica counts, its plan is rolled out like a scale step's (added replicas warmed before the switch, retired ones
    /// after it) and this returns once the rollout is complete.
    /// </summary>
    public async Task<ExpertAutoscaleDecision> RebalanceExpertsAsync(WorkloadProfile load, ExpertAutoscalingOptions options, DateTimeOffset? lastChange, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(load);
        ArgumentNullException.ThrowIfNull(options);
        await _step.WaitAsync(cancellationToken);
        try
        {
            var decision = ExpertReplicaAutoscaler.Decide(await Live(), load, options, lastChange, now);
            if (decision.Changed)
            {
                var rollout = await Roll(decision.Plan, Stopwatch.StartNew(), cancellationToken);
                await rollout.Complete;
            }

            return decision;
        }
        finally
        {
            _step.Release();
        }
    }

    /// <summary>
    /// The plan in effect (the registry's), with the capacities the steps respect: an even share of a layer's replicas
    /// on the target pods with 25% headroom, as the operator's planner sets them, or more where the plan already holds more.
    /// </summary>
    internal async Task<PlacementPlan> Live()
    {
        var wire = await cluster.Grains.GetGrain<IPlanRegistryGrain>(model).GetActive() ?? throw new InvalidOperationException($"model '{model}' has no plan in effect to scale from; publish one first.");
        if (wire.Layers != profile.Layers || wire.Experts != profile.Experts)
        {
            throw new InvalidOperationException($"the plan in effect is {wire.Layers} layers × {wire.Experts} experts but the profile is {profile.Layers} × {profile.Experts}.");
        }

        var assignment = Enumerable.Range(0, wire.Layers)
            .Select(l => Enumerable.Range(0, wire.Experts).Select(e => wire.PodIds[wire.Offsets[(l * wire.Experts) + e]..wire.Offsets[(l * wire.Experts) + e + 1]]).ToArray())
            .ToArray();
        return PlacementPlan.WithoutCapacities(new PlanMetadata { Version = wire.Version, Solver = "incremental" }, wire.Pods, assignment);
    }

    private ScalingStep Next(PlacementPlan live, int targetPods, int defaultBudget)
    {
        var perLayer = Enumerable.Range(0, live.Layers).Select(live.ReplicasPerPod).ToArray();
        var even = (live.TotalReplicas / live.Layers + targetPods - 1) / targetPods;
        var staying = Math.Min(live.PodCount, targetPods);
        var slots = Math.Max(even + Math.Max(1, even / 4), perLayer.Max(c => c.Take(staying).Max()));
        var podCapacity = live.Layers * slots;
        var liveCapacity = Math.Max(podCapacity, Enumerable.Range(0, live.PodCount).Max(p => perLayer.Sum(c => c[p])));
        var sized = new PlacementPlan(live.Info, [.. Enumerable.Range(0, live.PodCount).Select(p => new PodSpec(p, liveCapacity))], live.ToAssignment());
        var budget = _options.MaxMoves ?? Math.Max(1, defaultBudget);
        return ScalingPlanner.Next(sized, targetPods, budget, profile, new ScalingOptions { LayerSlots = slots, PodCapacity = podCapacity });
    }

    /// <summary>Starts the rollout of <paramref name="plan"/> and returns when every pod serves it; <c>Complete</c> ends with the rollout (old replicas retired).</summary>
    private async Task<(double InEffect, Task<double> Complete)> Roll(PlacementPlan plan, Stopwatch clock, CancellationToken cancellationToken)
    {
        var registry = cluster.Grains.GetGrain<IPlanRegistryGrain>(model);
        var version = plan.Info.Version;
        await registry.Start(WirePlan.From(model, plan), _options.Rollout);
        var deadline = clock.Elapsed + _options.RolloutTimeout;
        async Task<PlanRolloutStatus> Until(Func<PlanRolloutStatus, bool> done)
        {
            while (true)
            {
                var status = await registry.GetStatus();
                if (status.FailedVersion == version)
                {
                    throw new InvalidOperationException($"the rollout of plan {version} of '{model}' failed: {status.Error}");
                }

                if (done(status))
                {
                    return status;
                }

                if (clock.Elapsed > deadline)
                {
                    throw new TimeoutException($"plan {version} of '{model}' was not in effect within {_options.RolloutTimeout.TotalSeconds:F0} s (phase {status.Phase}).");
                }

                await Task.Delay(_options.PollInterval, cancellationToken);
            }
        }

        await Until(s => s.ActiveVersion >= version);
        var inEffect = clock.Elapsed.TotalSeconds;
        return (inEffect, CompleteAt());

        async Task<double> CompleteAt()
        {
            await Until(s => s.ActiveVersion > version || (s.ActiveVersion == version && s.PendingVersion is null));
            return clock.Elapsed.TotalSeconds;
        }
    }
}

/// <summary>Settings of <see cref="LocalScaler"/>.</summary>
public sealed record LocalScalerOptions
{
    /// <summary>
    /// Most replicas one plan step moves; null (default): the new pods' even share of all replicas for a scale-out, and
    /// all the replicas of the leaving pods for a scale-in (one step). At least 1 when set.
    /// </summary>
    public int? MaxMoves { get; init; }

    /// <summary>Most plan steps a scale-in may take (default 64, in [1, 10000]).</summary>
    public int MaxSteps { get; init; } = 64;

    /// <summary>How the plan rolls out: <see cref="RolloutPolicy.Default"/> (warm batches of 8, drain up to 30 s).</summary>
    public RolloutPolicy Rollout { get; init; } = RolloutPolicy.Default;

    /// <summary>How long a step's rollout may take before it is in effect and before it is complete (default 120 s).</summary>
    public TimeSpan RolloutTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long a scale-out waits for a request served on a new pod (default 30 s; zero: no wait).</summary>
    public TimeSpan ServeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Longest warm-up of a standby that <see cref="LocalScaler.SetStandbyAsync"/> started, in the background (default
    /// 30 s, in [0, 10 min]; zero: none): requests through its runner until it is steady.
    /// </summary>
    public TimeSpan StandbyWarmup { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the rollout status and the new pods' metrics are read (default 20 ms, in [1 ms, 10 s]).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>These options, or an <see cref="ArgumentException"/> naming every value out of range.</summary>
    internal LocalScalerOptions Validated()
    {
        var problems = new List<string>();
        if (MaxMoves is < 1)
        {
            problems.Add($"{nameof(MaxMoves)} must be at least 1 when set (got {MaxMoves})");
        }

        if (MaxSteps is < 1 or > 10_000)
        {
            problems.Add($"{nameof(MaxSteps)} must be in [1, 10000] (got {MaxSteps})");
        }

        if (Rollout is null)
        {
            problems.Add($"{nameof(Rollout)} must not be null");
        }

        if (RolloutTimeout <= TimeSpan.Zero)
        {
            problems.Add($"{nameof(RolloutTimeout)} must be positive (got {RolloutTimeout})");
        }

        if (ServeTimeout < TimeSpan.Zero)
        {
            problems.Add($"{nameof(ServeTimeout)} must not be negative (got {ServeTimeout})");
        }

        if (StandbyWarmup < TimeSpan.Zero || StandbyWarmup > TimeSpan.FromMinutes(10))
        {
            problems.Add($"{nameof(StandbyWarmup)} must be in [0, 10 min] (got {StandbyWarmup})");
        }

        if (PollInterval < TimeSpan.FromMilliseconds(1) || PollInterval > TimeSpan.FromSeconds(10))
        {
            problems.Add($"{nameof(PollInterval)} must be in [1 ms, 10 s] (got {PollInterval})");
        }

        return problems.Count == 0 ? this : throw new ArgumentException("invalid local scaler options: " + string.Join("; ", problems));
    }
}

/// <summary>What a scale step did and when, in seconds from the decision (the call).</summary>
/// <param name="FromPods">Plan pods before.</param>
/// <param name="ToPods">Plan pods after.</param>
/// <param name="StartedSilos">Silo processes started (0: the scale-out used standbys only).</param>
/// <param name="StoppedSilos">Silo processes stopped.</param>
/// <param name="Moves">Replicas the plan steps created on other pods.</param>
/// <param name="PlanVersion">The version in effect at the end.</param>
/// <param name="Steps">Plan steps rolled out.</param>
/// <param name="JoinedSeconds">Scale-out: every new pod joined and healthy (about 0 with standbys).</param>
/// <param name="PlanSeconds">The (last) plan in effect: every pod serves it.</param>
/// <param name="ServedSeconds">Scale-out: a new pod served a request (tokens homed or dispatched there); null when none did within the serve timeout.</param>
/// <param name="CompleteSeconds">The (last) rollout complete: replicas that left the plan retired.</param>
/// <param name="StoppedSeconds">Scale-in: the silos above the target (less the standbys kept) stopped.</param>
public sealed record ScaleTimings(int FromPods, int ToPods, int StartedSilos, int StoppedSilos, int Moves, int PlanVersion, int Steps, double? JoinedSeconds, double PlanSeconds, double? ServedSeconds, double CompleteSeconds, double? StoppedSeconds);
