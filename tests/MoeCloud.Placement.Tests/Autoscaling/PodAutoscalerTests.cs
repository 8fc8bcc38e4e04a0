using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Placement.Tests.Autoscaling;

public sealed class PodAutoscalerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static PodScalingTargets Targets(double? p99 = 100, double? depth = null, int min = 1, int max = 8, int upSeconds = 15, int downSeconds = 300) =>
        new(min, max, p99, depth, TimeSpan.FromSeconds(upSeconds), TimeSpan.FromSeconds(downSeconds));

    private static ServingSample Sample(double seconds, double? p99, double queue = 0, long requests = 100, int pods = 0) =>
        new(T0.AddSeconds(seconds), requests, p99, queue, pods);

    /// <summary>Samples every 5 s from <paramref name="from"/> to <paramref name="to"/> seconds, inclusive.</summary>
    private static List<ServingSample> Steady(double from, double to, Func<double, ServingSample> sample)
    {
        var list = new List<ServingSample>();
        for (var t = from; t <= to; t += 5)
        {
            list.Add(sample(t));
        }

        return list;
    }

    [Fact]
    public void Decide_WhenP99TwiceTheTargetThroughTheUpWindow_ScalesOutToCeilOfPodsTimesRatio()
    {
        var history = Steady(0, 20, t => Sample(t, p99: 250));

        var decision = PodAutoscaler.Decide(Targets(), 2, history, T0.AddSeconds(20));

        Assert.Equal(5, decision.DesiredPods); // ceil(2 x 250 / 100)
        Assert.Equal(250, decision.ObservedP99Ms);
        Assert.Contains("p99 step latency 250 ms (target 100)", decision.Reason, StringComparison.Ordinal);
        Assert.Contains("2 -> 5 pods", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenQueueDepthPerPodAboveTarget_ScalesOutOnQueueDepth()
    {
        // 24 requests in flight on 2 pods is 12 per pod against a target of 4: ceil(2 x 3) = 6.
        var history = Steady(0, 20, t => Sample(t, p99: null, queue: 24));

        var decision = PodAutoscaler.Decide(Targets(p99: null, depth: 4), 2, history, T0.AddSeconds(20));

        Assert.Equal(6, decision.DesiredPods);
        Assert.Equal(12, decision.ObservedQueueDepth);
        Assert.Contains("queue depth 12 per pod (target 4)", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenBothTargetsSet_TakesTheLargerRecommendation()
    {
        var history = Steady(0, 20, t => Sample(t, p99: 150, queue: 16));

        var decision = PodAutoscaler.Decide(Targets(p99: 100, depth: 2), 2, history, T0.AddSeconds(20));

        Assert.Equal(8, decision.DesiredPods); // queue: 8 per pod / 2 = 4x -> 8; p99: 1.5x -> 3
    }

    [Fact]
    public void Decide_WhenQueueDepthRisesWhileTheWindowedP99IsStillUnderTarget_ScalesOutOnQueueDepthAlone()
    {
        // A load step's first seconds: the gateway's p99 window still holds the requests served before it (60 ms), while
        // requests pile up in flight (6 on 2 pods: 3 per pod against a target of 1). Samples every second, up window 2 s.
        var history = new[] { 0, 1, 2 }.Select(t => Sample(t, p99: 60, queue: 6)).ToList();

        var withDepth = PodAutoscaler.Decide(Targets(p99: 100, depth: 1, upSeconds: 2), 2, history, T0.AddSeconds(2));
        var p99Only = PodAutoscaler.Decide(Targets(p99: 100, upSeconds: 2), 2, history, T0.AddSeconds(2));

        Assert.Equal(6, withDepth.DesiredPods);
        Assert.Contains("queue depth 3 per pod (target 1)", withDepth.Reason, StringComparison.Ordinal);
        Assert.Equal(2, p99Only.DesiredPods);
    }

    [Fact]
    public void WithinTargets_WhenOverTheTargetAtTheMostPods_IsFalseAlthoughTheDecisionHolds()
    {
        var targets = Targets(p99: 100, max: 3, upSeconds: 0);
        var over = Sample(0, p99: 150, pods: 3);

        var decision = PodAutoscaler.Decide(targets, 3, [over], T0);

        Assert.Equal(3, decision.DesiredPods);
        Assert.False(PodAutoscaler.WithinTargets(targets, over, 3));
        Assert.True(PodAutoscaler.WithinTargets(targets, Sample(0, p99: 105, pods: 3), 3)); // within the 0.1 tolerance
        Assert.True(PodAutoscaler.WithinTargets(targets, Sample(0, p99: null, requests: 0), 3)); // idle
    }

    [Fact]
    public void Decide_WhenHighP99ShorterThanTheUpWindow_HoldsUntilTheWindowAgrees()
    {
        var targets = Targets(upSeconds: 15);
        var history = Steady(0, 10, t => Sample(t, p99: 80)).Concat(Steady(15, 25, t => Sample(t, p99: 300))).ToList();

        var early = PodAutoscaler.Decide(targets, 2, history, T0.AddSeconds(25));
        history.AddRange(Steady(30, 30, t => Sample(t, p99: 300)));
        var late = PodAutoscaler.Decide(targets, 2, history, T0.AddSeconds(30));

        Assert.Equal(2, early.DesiredPods); // the sample at 10 s (80 ms) is still in the window
        Assert.Equal(6, early.Recommendation);
        Assert.Contains("until the scale-up window agrees", early.Reason, StringComparison.Ordinal);
        Assert.Equal(6, late.DesiredPods);
    }

    [Fact]
    public void Decide_WhenLowP99ShorterThanTheDownWindow_HoldsThenScalesInToTheHighestRecommendation()
    {
        var targets = Targets(downSeconds: 60);
        var busy = Steady(0, 55, t => Sample(t, p99: 100, pods: 4));
        var quiet = Steady(60, 185, t => Sample(t, p99: t < 120 ? 40 : 20, pods: 4));
        var history = busy.Concat(quiet).ToList();

        var inWindow = PodAutoscaler.Decide(targets, 4, history.Where(s => s.At <= T0.AddSeconds(100)), T0.AddSeconds(100));
        var afterWindow = PodAutoscaler.Decide(targets, 4, history.Where(s => s.At <= T0.AddSeconds(125)), T0.AddSeconds(125));
        var later = PodAutoscaler.Decide(targets, 4, history, T0.AddSeconds(185));

        Assert.Equal(4, inWindow.DesiredPods); // 55 s at 100 ms is within the last 60 s
        Assert.Equal(2, afterWindow.DesiredPods); // all of 65..125 s at <= 40 ms: the highest recommendation is ceil(4 x 0.4) = 2
        Assert.Equal(1, later.DesiredPods); // 125..185 s, all at 20 ms: ceil(4 x 0.2) = 1
        Assert.Contains("for 60 s: 4 -> 1 pods", later.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenHistoryShorterThanTheDownWindow_NeverScalesIn()
    {
        // A fresh history (the operator restarted): 50 s of a quiet load is not yet a 300 s window.
        var history = Steady(0, 50, t => Sample(t, p99: 10, pods: 6));

        var decision = PodAutoscaler.Decide(Targets(downSeconds: 300), 6, history, T0.AddSeconds(50));

        Assert.Equal(6, decision.DesiredPods);
        Assert.Equal(1, decision.Recommendation);
    }

    [Fact]
    public void Decide_WhenWithinTheTolerance_Holds()
    {
        var history = Steady(0, 20, t => Sample(t, p99: 109));

        var decision = PodAutoscaler.Decide(Targets(), 3, history, T0.AddSeconds(20));

        Assert.Equal(3, decision.DesiredPods);
        Assert.Equal(3, decision.Recommendation);
    }

    [Fact]
    public void Decide_WhenConstantLoad_ChangesPodsOnceAndNeverAgain()
    {
        // A constant offered load whose step latency falls with the pods that share it: p99 = 40 ms + 600 ms / pods.
        // Decisions every 5 s over an hour; samples carry the pods they were read on, as the gateway reports them.
        var targets = Targets(p99: 150, upSeconds: 15, downSeconds: 60);
        var pods = 1;
        var changes = new List<(double At, int Pods)>();
        var history = new List<ServingSample>();
        for (var t = 0.0; t <= 3600; t += 5)
        {
            history.Add(Sample(t, p99: 40 + (600.0 / pods), pods: pods));
            history = PodAutoscaler.Prune(targets, history, T0.AddSeconds(t));
            var decision = PodAutoscaler.Decide(targets, pods, history, T0.AddSeconds(t));
            if (decision.DesiredPods != pods)
            {
                pods = decision.DesiredPods;
                changes.Add((t, pods));
            }
        }

        var change = Assert.Single(changes); // 640 ms on 1 pod: ceil(640 / 150) = 5 pods, 160 ms: within 10%
        Assert.Equal(5, change.Pods);
        Assert.Equal(15, change.At);
    }

    [Fact]
    public void Decide_WhenRecommendationBeyondMax_ClampsToMax()
    {
        var history = Steady(0, 20, t => Sample(t, p99: 5000));

        var decision = PodAutoscaler.Decide(Targets(max: 6), 2, history, T0.AddSeconds(20));

        Assert.Equal(6, decision.DesiredPods);
    }

    [Fact]
    public void Decide_WhenIdleForTheDownWindow_ScalesInToMin()
    {
        var targets = Targets(min: 2, downSeconds: 60);
        var history = Steady(0, 60, t => Sample(t, p99: null, requests: 0));

        var early = PodAutoscaler.Decide(targets, 5, history.Where(s => s.At <= T0.AddSeconds(55)), T0.AddSeconds(55));
        var due = PodAutoscaler.Decide(targets, 5, history, T0.AddSeconds(60));

        Assert.Equal(5, early.DesiredPods);
        Assert.Equal(2, due.DesiredPods);
        Assert.Contains("idle (no requests) for 60 s: 5 -> 2 pods", due.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenIdle_NeverScalesOut()
    {
        var history = Steady(0, 20, t => Sample(t, p99: null, requests: 0));

        var decision = PodAutoscaler.Decide(Targets(min: 1), 1, history, T0.AddSeconds(20));

        Assert.Equal(1, decision.DesiredPods);
    }

    [Fact]
    public void Decide_WhenCurrentBelowMin_RaisesToMinAtOnce()
    {
        var decision = PodAutoscaler.Decide(Targets(min: 3), 1, [], T0);

        Assert.Equal(3, decision.DesiredPods);
        Assert.Contains("outside 3..8", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenCurrentAboveMax_LowersToMaxAtOnce()
    {
        var decision = PodAutoscaler.Decide(Targets(max: 4), 7, [Sample(0, p99: 500)], T0);

        Assert.Equal(4, decision.DesiredPods);
    }

    [Fact]
    public void Decide_WhenNoSamples_Holds()
    {
        var decision = PodAutoscaler.Decide(Targets(), 3, [], T0.AddSeconds(600));

        Assert.Equal(3, decision.DesiredPods);
        Assert.Null(decision.Recommendation);
        Assert.Contains("no serving signals", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenOnlyP99TargetAndNoFinishedRequestsButAQueue_Holds()
    {
        // Requests in flight and none finished: no p99 to judge by, and the queue is not a target.
        var history = Steady(0, 400, t => Sample(t, p99: null, queue: 9, requests: 0));

        var decision = PodAutoscaler.Decide(Targets(downSeconds: 60), 4, history, T0.AddSeconds(400));

        Assert.Equal(4, decision.DesiredPods);
        Assert.Contains("no finished requests for p99", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Decide_WhenSamplesWereReadOnFewerPods_RecommendsFromThosePods()
    {
        // spec.replicas went to 4 a moment ago, but the plan in effect still places on 2: the samples say so.
        var history = Steady(0, 20, t => Sample(t, p99: 200, pods: 2));

        var decision = PodAutoscaler.Decide(Targets(), 4, history, T0.AddSeconds(20));

        Assert.Equal(4, decision.DesiredPods); // ceil(2 x 2), not ceil(4 x 2)
    }

    [Fact]
    public void Decide_WhenNoTargetSet_ThrowsNamingTheFields()
    {
        var e = Assert.Throws<ArgumentException>(() => PodAutoscaler.Decide(Targets(p99: null, depth: null), 1, [], T0));

        Assert.Contains("at least one of targetP99Ms and targetQueueDepth must be set", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prune_WhenHistoryLongerThanTheWindows_KeepsTheWindowAndOneSampleBefore()
    {
        var history = Steady(0, 100, t => Sample(t, p99: 50));

        var kept = PodAutoscaler.Prune(Targets(upSeconds: 10, downSeconds: 30), history, T0.AddSeconds(100));

        Assert.Equal(T0.AddSeconds(65), kept[0].At);
        Assert.Equal(8, kept.Count); // 65, 70, ..., 100
    }
}
