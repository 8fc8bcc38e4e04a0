using System.Diagnostics;
using Prometheus;

namespace MoeCloud.Operator.Hosting;

/// <summary>The operator's Prometheus metrics (served on /metrics).</summary>
public sealed class OperatorMetrics
{
    private readonly Counter _reconciles;
    private readonly Histogram _duration;
    private readonly Gauge _queueDepth;
    private readonly Counter _plans;
    private readonly Gauge _leader;

    public OperatorMetrics(CollectorRegistry registry)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        _reconciles = factory.CreateCounter("moecloud_operator_reconcile_total", "Reconciles by controller and result.", "controller", "result");
        _duration = factory.CreateHistogram("moecloud_operator_reconcile_duration_seconds", "Reconcile duration.", "controller");
        _queueDepth = factory.CreateGauge("moecloud_operator_queue_depth", "Keys waiting in the work queue.", "controller");
        _plans = factory.CreateCounter("moecloud_operator_plan_versions_total", "ExpertPlacement versions written, by reason.", "reason");
        _leader = factory.CreateGauge("moecloud_operator_leader", "1 while this replica holds the leader lease.");
    }

    public long Start() => Stopwatch.GetTimestamp();

    public void Reconciled(string controller, string result, long started)
    {
        _reconciles.WithLabels(controller, result).Inc();
        _duration.WithLabels(controller).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    public void QueueDepth(string controller, int depth) => _queueDepth.WithLabels(controller).Set(depth);

    public void PlanWritten(string reason) => _plans.WithLabels(reason).Inc();

    public void Leader(bool leading) => _leader.Set(leading ? 1 : 0);
}
