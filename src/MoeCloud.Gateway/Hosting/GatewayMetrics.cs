using Prometheus;

namespace MoeCloud.Gateway.Hosting;

/// <summary>
/// The gateway's Prometheus metrics (namespace <c>moecloud_gateway_</c>), in their own registry. Labels are bounded:
/// model, API, outcome, reason, pod, state, and a rank of at most <see cref="ClusterGauges.HotExperts"/> — never layer ×
/// expert (the hottest experts are ranks whose layer and expert index are values, so 58 × 256 experts stay 10 series).
/// </summary>
public sealed class GatewayMetrics
{
    /// <summary>Creates the metrics.</summary>
    public GatewayMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        Latency = f.CreateHistogram("moecloud_gateway_request_seconds", "Request latency through the gateway, by API and outcome.", new HistogramConfiguration
        {
            LabelNames = ["api", "outcome"],
            Buckets = Histogram.ExponentialBuckets(0.0005, 2, 18),
        });
        Tokens = f.CreateCounter("moecloud_gateway_tokens_total", "Tokens served (tokens/s: rate()).", "model");
        Dispatches = f.CreateCounter("moecloud_gateway_dispatches_total", "Expert dispatches of forwarded requests, by kind (remote fraction: remote / all).", "model", "kind");
        Predictions = f.CreateCounter("moecloud_gateway_predictions_total", "Home predictions scored against the best home in hindsight (hit rate: hit / all).", "model", "result");
        HomedSteps = f.CreateCounter("moecloud_gateway_homed_steps_total", "Forward steps by how they were homed: whole (every token on one pod) or split (over several); with HomeGranularity=Auto, what the split rule chose.", "model", "homes");
        Retries = f.CreateCounter("moecloud_gateway_retries_total", "Sub-batches retried on another pod.", "model");
        RetriesRefused = f.CreateCounter("moecloud_gateway_retries_refused_total", "Sub-batches that failed without a retry because the retry budget was spent.", "model");
        InFlight = f.CreateGauge("moecloud_gateway_pod_inflight", "Sub-batches in flight per pod.", "pod");
        Rejected = f.CreateCounter("moecloud_gateway_rejected_total", "Requests refused before forwarding, by reason.", "reason");
        WarmupHints = f.CreateCounter("moecloud_gateway_warmup_hints_total", "Warm-up hints sent to remote replicas ahead of their first dispatch.", "model");
        Pods = f.CreateGauge("moecloud_gateway_pods", "Pods of the live plan (state=planned) and those of them healthy by the gateway's checks (state=healthy).", "state");
        PlanVersion = f.CreateGauge("moecloud_gateway_plan_version", "The plan version in effect in the cluster, as the gateway last read it.", "model");
        RolloutVersion = f.CreateGauge("moecloud_gateway_rollout_version", "The plan version being rolled out (0: none).", "model");
        RolloutMoved = f.CreateGauge("moecloud_gateway_rollout_moved_replicas", "Replicas warmed plus retired so far by the latest rollout.", "model");
        RolloutMoves = f.CreateGauge("moecloud_gateway_rollout_total_moves", "Replicas the latest rollout adds plus removes.", "model");
        RolloutStalled = f.CreateGauge("moecloud_gateway_rollout_stalled_seconds", "Seconds the rollout in progress has moved no replica (0: none in progress).", "model");
        Imbalance = f.CreateGauge("moecloud_gateway_expert_load_imbalance", "Expert-load imbalance of the plan in effect under the cluster's windowed load (1: balanced).", "model");
        HotDispatches = f.CreateGauge("moecloud_gateway_hot_expert_dispatches", "Windowed dispatches of the rank-th hottest (layer, expert) (rank 1..10).", "model", "rank");
        HotLayer = f.CreateGauge("moecloud_gateway_hot_expert_layer", "MoE layer of the rank-th hottest expert.", "model", "rank");
        HotExpert = f.CreateGauge("moecloud_gateway_hot_expert_index", "Expert index (within its layer) of the rank-th hottest expert.", "model", "rank");
        HotReplicas = f.CreateGauge("moecloud_gateway_hot_expert_replicas", "Replicas the plan in effect gives the rank-th hottest expert.", "model", "rank");
        QueueDepth = f.CreateGauge("moecloud_gateway_queue_depth", "Forward steps accepted and not yet answered, by model (a pod-autoscaling signal).", "model");
        InFlightTokens = f.CreateGauge("moecloud_gateway_inflight_tokens", "Tokens of the forward steps accepted and not yet answered, by model.", "model");
        StepLatency = f.CreateHistogram("moecloud_gateway_step_seconds", "Latency of served forward steps (gRPC and JSON, stack and layer API together), by model: the per-model signal that p99 pod autoscaling reads; moecloud_gateway_request_seconds has no model label and splits by API and outcome instead.", new HistogramConfiguration
        {
            LabelNames = ["model"],
            Buckets = Histogram.ExponentialBuckets(0.0005, 2, 18),
        });
    }

    /// <summary>The registry <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Request latency by API and outcome.</summary>
    public Histogram Latency { get; }

    /// <summary>Tokens served.</summary>
    public Counter Tokens { get; }

    /// <summary>Dispatches by kind.</summary>
    public Counter Dispatches { get; }

    /// <summary>Prediction hits and misses.</summary>
    public Counter Predictions { get; }

    /// <summary>Forward steps homed whole or split.</summary>
    public Counter HomedSteps { get; }

    /// <summary>Retries.</summary>
    public Counter Retries { get; }

    /// <summary>Retries the retry budget refused.</summary>
    public Counter RetriesRefused { get; }

    /// <summary>Per-pod in-flight sub-batches.</summary>
    public Gauge InFlight { get; }

    /// <summary>Refusals by reason.</summary>
    public Counter Rejected { get; }

    /// <summary>Warm-up hints sent, by model.</summary>
    public Counter WarmupHints { get; }

    /// <summary>Planned and healthy pod counts.</summary>
    public Gauge Pods { get; }

    /// <summary>Plan version in effect, by model.</summary>
    public Gauge PlanVersion { get; }

    /// <summary>Version being rolled out (0: none), by model.</summary>
    public Gauge RolloutVersion { get; }

    /// <summary>Replicas moved by the latest rollout.</summary>
    public Gauge RolloutMoved { get; }

    /// <summary>Replicas the latest rollout moves in all.</summary>
    public Gauge RolloutMoves { get; }

    /// <summary>Seconds without progress of the rollout in progress.</summary>
    public Gauge RolloutStalled { get; }

    /// <summary>Expert-load imbalance, by model.</summary>
    public Gauge Imbalance { get; }

    /// <summary>Windowed dispatches of the hottest experts, by model and rank.</summary>
    public Gauge HotDispatches { get; }

    /// <summary>Layer of the hottest experts, by model and rank.</summary>
    public Gauge HotLayer { get; }

    /// <summary>Expert index of the hottest experts, by model and rank.</summary>
    public Gauge HotExpert { get; }

    /// <summary>Replicas of the hottest experts, by model and rank.</summary>
    public Gauge HotReplicas { get; }

    /// <summary>Forward steps accepted and not yet answered, by model.</summary>
    public Gauge QueueDepth { get; }

    /// <summary>Tokens of those steps, by model.</summary>
    public Gauge InFlightTokens { get; }

    /// <summary>Latency of served forward steps, by model.</summary>
    public Histogram StepLatency { get; }
}
