using Prometheus;

namespace MoeCloud.Gateway.Hosting;

/// <summary>The gateway's Prometheus metrics (namespace <c>moecloud_gateway_</c>), in their own registry.</summary>
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
        Retries = f.CreateCounter("moecloud_gateway_retries_total", "Sub-batches retried on another pod.", "model");
        RetriesRefused = f.CreateCounter("moecloud_gateway_retries_refused_total", "Sub-batches that failed without a retry because the retry budget was spent.", "model");
        InFlight = f.CreateGauge("moecloud_gateway_pod_inflight", "Sub-batches in flight per pod.", "pod");
        Rejected = f.CreateCounter("moecloud_gateway_rejected_total", "Requests refused before forwarding, by reason.", "reason");
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

    /// <summary>Retries.</summary>
    public Counter Retries { get; }

    /// <summary>Retries the retry budget refused.</summary>
    public Counter RetriesRefused { get; }

    /// <summary>Per-pod in-flight sub-batches.</summary>
    public Gauge InFlight { get; }

    /// <summary>Refusals by reason.</summary>
    public Counter Rejected { get; }
}
