using Microsoft.Extensions.Time.Testing;
using MoeCloud.Cli.Cluster;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Tests.Cluster;

/// <summary>The controller against a fake scaler and fake signals, on explicit times.</summary>
public sealed class LocalAutoscalerTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static LocalAutoscalerOptions Options(double targetP99Ms, int standby = 0, ExpertAutoscalingOptions? experts = null) => new()
    {
        Pods = new PodScalingTargets(1, 8, targetP99Ms, null, TimeSpan.Zero, TimeSpan.FromSeconds(30)),
        Standby = standby,
        Settle = TimeSpan.FromSeconds(5),
        Experts = experts,
    };

    [Fact]
    public async Task StepAsync_WhenP99IsOverTarget_ScalesOutToTheRecommendationWithoutStartingASilo()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2, standby: 1);
        var signals = new FakeSignals(scaler, _ => 150);
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 100, standby: 1), time);
        time.Advance(TimeSpan.FromSeconds(5));

        var made = await autoscaler.StepAsync(CancellationToken.None);

        Assert.Equal([3], scaler.ScaleOuts);
        Assert.Empty(scaler.Standbys);
        Assert.Equal(["pods"], made.Select(c => c.Kind));
        Assert.Equal((2, 3), (made[0].FromPods, made[0].ToPods));
        Assert.Contains("p99 step latency 150 ms (target 100)", made[0].Reason, StringComparison.Ordinal);
        Assert.Same(scaler.Timings, made[0].Timings);
    }

    [Fact]
    public async Task StepAsync_WhileTheRefillDelayAfterAScaleOutRuns_DefersTheStandbyRefill()
    {
        // 150 ms on 2 pods asks for 3; on 3 pods the p99 is 100 ms (at the target: hold). Refill delay 30 s.
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2, standby: 1);
        var signals = new FakeSignals(scaler, pods => 300.0 / pods);
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 100, standby: 1), time);
        time.Advance(TimeSpan.FromSeconds(5));
        await autoscaler.StepAsync(CancellationToken.None);
        var scaledOutAt = time.GetUtcNow();

        var startsBefore = new List<int>();
        while (time.GetUtcNow() < scaledOutAt + TimeSpan.FromSeconds(29))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await autoscaler.StepAsync(CancellationToken.None);
            startsBefore.AddRange(scaler.Standbys);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        var made = await autoscaler.StepAsync(CancellationToken.None);

        Assert.Equal([3], scaler.ScaleOuts);
        Assert.Empty(startsBefore);
        Assert.Equal([1], scaler.Standbys);
        Assert.Equal(1, scaler.Standby);
        Assert.Equal("standby", Assert.Single(made).Kind);
        Assert.Contains("started 1 silo", made[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StepAsync_WhenOverTheTargetAtTheMostPodsAfterTheRefillDelay_DefersTheStandbyRefill()
    {
        // At the most pods (3) the p99 stays over the target: the decision holds (it cannot go higher), but the load has
        // not settled, so no silo is started.
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2, standby: 1);
        var signals = new FakeSignals(scaler, _ => 150);
        var options = Options(targetP99Ms: 100, standby: 1);
        options = options with { Pods = options.Pods with { MaxPods = 3, ScaleUpWindow = TimeSpan.FromSeconds(3) } };
        await using var autoscaler = new LocalAutoscaler(scaler, signals, options, time);

        for (var second = 0; second < 60; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await autoscaler.StepAsync(CancellationToken.None);
        }

        Assert.Equal([3], scaler.ScaleOuts);
        Assert.Empty(scaler.Standbys);
        Assert.Equal(3, autoscaler.LastDecision?.DesiredPods);
    }

    [Fact]
    public async Task StepAsync_WhenAScaleOutUsedTwoStandbys_RefillsOneSiloPerSettleTime()
    {
        // 300 ms on 2 pods asks for 4 (target 80, within tolerance on 4 pods); two standbys, settle 5 s, refill delay 30 s.
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2, standby: 2);
        var signals = new FakeSignals(scaler, pods => 300.0 / pods);
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 80, standby: 2), time);
        time.Advance(TimeSpan.FromSeconds(5));
        await autoscaler.StepAsync(CancellationToken.None);
        var scaledOutAt = time.GetUtcNow();

        var refills = new List<TimeSpan>();
        for (var second = 0; second < 60; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            foreach (var change in await autoscaler.StepAsync(CancellationToken.None))
            {
                refills.Add(change.At - scaledOutAt);
            }
        }

        Assert.Equal([4], scaler.ScaleOuts);
        Assert.Equal(0, scaler.StandbyAfterScaleOut);
        Assert.Equal([TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(35)], refills);
        Assert.Equal([2, 2, 2], scaler.Standbys); // two that started one silo each, then one that found none missing
        Assert.Equal(2, scaler.Standby);
    }

    [Fact]
    public async Task StepAsync_WithinTheSettleTimeAfterStart_TakesNoSampleAndMakesNoChange()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2);
        await using var autoscaler = new LocalAutoscaler(scaler, new FakeSignals(scaler, _ => 1000), Options(targetP99Ms: 100), time);
        time.Advance(TimeSpan.FromSeconds(4));

        var made = await autoscaler.StepAsync(CancellationToken.None);

        Assert.Empty(made);
        Assert.Empty(scaler.ScaleOuts);
        Assert.Equal(0, scaler.Reads);
    }

    [Fact]
    public async Task StepAsync_WhenTheLoadIsConstant_MakesNoScaleChangeAfterTheFirst()
    {
        // A constant load whose p99 falls as pods are added: 300 ms on 1 pod, 150 on 2, 75 on 4 (target 80: within tolerance).
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2);
        var signals = new FakeSignals(scaler, pods => 300.0 / pods);
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 80), time);

        for (var second = 0; second < 300; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await autoscaler.StepAsync(CancellationToken.None);
        }

        var change = Assert.Single(autoscaler.Changes);
        Assert.Equal((2, 4), (change.FromPods, change.ToPods));
        Assert.Equal([4], scaler.ScaleOuts);
        Assert.Empty(scaler.ScaleIns);
        Assert.True(scaler.Reads > 250);
    }

    [Fact]
    public async Task StepAsync_WhenIdleForTheScaleDownWindow_ScalesInKeepingTheStandby()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 3);
        var signals = new FakeSignals(scaler, _ => null);
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 100, standby: 1), time);

        for (var second = 0; second < 40; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await autoscaler.StepAsync(CancellationToken.None);
        }

        Assert.Equal([(1, 1)], scaler.ScaleIns);
        Assert.Contains("idle", Assert.Single(autoscaler.Changes).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StepAsync_WhenAScaleStepFails_RecordsTheErrorAndKeepsGoing()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2) { Failure = new TimeoutException("plan 2 was not in effect") };
        await using var autoscaler = new LocalAutoscaler(scaler, new FakeSignals(scaler, _ => 150), Options(targetP99Ms: 100), time);
        time.Advance(TimeSpan.FromSeconds(5));

        var made = await autoscaler.StepAsync(CancellationToken.None);

        Assert.Equal("plan 2 was not in effect", Assert.Single(made).Error);
        Assert.Null(made[0].Timings);
    }

    [Fact]
    public async Task StepAsync_WithExpertAutoscaling_RollsOutTheReplicaStepOnTheLiveLoad()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2);
        var signals = new FakeSignals(scaler, _ => 50)
        {
            Load = WorkloadProfile.FromLoad("live", new ExpertLoad(1, 4, [40, 5, 5, 5]), topK: 1),
        };
        var experts = new ExpertAutoscalingOptions { TargetLoadPerReplica = 0.3, Cooldown = TimeSpan.FromSeconds(60) };
        await using var autoscaler = new LocalAutoscaler(scaler, signals, Options(targetP99Ms: 100, experts: experts), time);
        time.Advance(TimeSpan.FromSeconds(5));

        var made = await autoscaler.StepAsync(CancellationToken.None);

        var change = Assert.Single(made);
        Assert.Equal("experts", change.Kind);
        Assert.Contains("add", change.Reason, StringComparison.Ordinal);
        Assert.Equal(2, scaler.Plan.PodsOf(0, 0).Length);
    }

    [Fact]
    public async Task Start_WhenTimeAdvancesAPeriod_MakesAPassEachPeriodUntilStopped()
    {
        var time = new FakeTimeProvider(Start);
        var scaler = new FakeScaler(pods: 2);
        await using var autoscaler = new LocalAutoscaler(scaler, new FakeSignals(scaler, _ => 50), Options(targetP99Ms: 100), time);

        autoscaler.Start();
        for (var pass = 1; pass <= 3; pass++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await WaitUntil(() => scaler.Passes >= pass);
        }

        await autoscaler.StopAsync();
        var passes = scaler.Passes;
        time.Advance(TimeSpan.FromSeconds(5));

        Assert.Equal(3, passes);
        Assert.Equal(3, scaler.Passes);
    }

    [Fact]
    public void Constructor_WhenOptionsAreBad_ThrowsNamingEachProblem()
    {
        var scaler = new FakeScaler(pods: 1);
        var bad = Options(targetP99Ms: 100) with { Standby = -1, Period = TimeSpan.Zero };

        var e = Assert.Throws<ArgumentException>(() => new LocalAutoscaler(scaler, new FakeSignals(scaler, _ => null), bad));

        Assert.Contains("Standby", e.Message, StringComparison.Ordinal);
        Assert.Contains("Period", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Waits (bounded: the loop runs on the thread pool) until <paramref name="done"/> holds.</summary>
    private static async Task WaitUntil(Func<bool> done)
    {
        for (var i = 0; i < 1000 && !done(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(done());
    }

    /// <summary>
    /// A scaler that records its calls; its plan is experts 0..3 of one layer on pods 0, 1, 0, 1 of <c>pods</c> pods, with
    /// <c>standby</c> silos joined above them (a scale-out takes them first).
    /// </summary>
    private sealed class FakeScaler(int pods, int standby = 0) : IPodScaler
    {
        private int _passes;

        public int Standby { get; private set; } = standby;

        public int? StandbyAfterScaleOut { get; private set; }

        public int Pods { get; private set; } = pods;

        public PlacementPlan Plan { get; private set; } = PlacementPlan.WithoutCapacities(new PlanMetadata { Version = 1 }, pods, [[[0], [1 % pods], [0], [1 % pods]]]);

        public ScaleTimings Timings { get; } = new(0, 0, 0, 0, 0, 2, 1, 0.01, 1.0, 1.2, 1.5, null);

        public Exception? Failure { get; init; }

        public List<int> ScaleOuts { get; } = [];

        public List<(int Pods, int Standby)> ScaleIns { get; } = [];

        public List<int> Standbys { get; } = [];

        public int Reads { get; set; }

        public int Passes => Volatile.Read(ref _passes);

        public Task<int> PlanPodsAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _passes);
            return Task.FromResult(Pods);
        }

        public Task<ScaleTimings> ScaleOutAsync(int targetPods, CancellationToken cancellationToken)
        {
            ScaleOuts.Add(targetPods);
            if (Failure is { } e)
            {
                return Task.FromException<ScaleTimings>(e);
            }

            Standby = Math.Max(0, Standby - (targetPods - Pods));
            StandbyAfterScaleOut = Standby;
            return Task.FromResult(Set(targetPods));
        }

        public Task<ScaleTimings> ScaleInAsync(int targetPods, CancellationToken cancellationToken, int standby = 0)
        {
            ScaleIns.Add((targetPods, standby));
            Standby = Math.Min(standby, Pods + Standby - targetPods);
            return Task.FromResult(Set(targetPods));
        }

        public Task<int> SetStandbyAsync(int standby, CancellationToken cancellationToken, int maxStarts = int.MaxValue)
        {
            Standbys.Add(standby);
            var change = Math.Min(standby - Standby, maxStarts);
            Standby += change;
            return Task.FromResult(change);
        }

        public Task<ExpertAutoscaleDecision> RebalanceExpertsAsync(WorkloadProfile load, ExpertAutoscalingOptions options, DateTimeOffset? lastChange, DateTimeOffset now, CancellationToken cancellationToken)
        {
            var decision = ExpertReplicaAutoscaler.Decide(Plan, load, options, lastChange, now);
            Plan = decision.Plan;
            return Task.FromResult(decision);
        }

        private ScaleTimings Set(int targetPods)
        {
            Pods = targetPods;
            return Timings;
        }
    }

    /// <summary>Signals of a constant load: p99 as a function of the scaler's pods (null: idle), 10 requests per window.</summary>
    private sealed class FakeSignals(FakeScaler scaler, Func<int, double?> p99) : IAutoscaleSignals
    {
        public WorkloadProfile? Load { get; init; }

        public ServingSample? ReadServing(DateTimeOffset now)
        {
            scaler.Reads++;
            return p99(scaler.Pods) is { } ms ? new ServingSample(now, 10, ms, 1, scaler.Pods) : new ServingSample(now, 0, null, 0, scaler.Pods);
        }

        public Task<WorkloadProfile?> ReadLoadAsync(CancellationToken cancellationToken) => Task.FromResult(Load);
    }
}
