using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Admin;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Scheduling;
using Prometheus;

namespace MoeCloud.Gateway.Hosting;

/// <summary>
/// The gateway's serving signals per served model, the inputs of pod autoscaling (<see cref="ServingSignals"/>, served
/// at <c>GET admin/v1/serving</c>): queue depth (forward steps accepted and not yet answered) and their tokens, read
/// now, and the steps, failures, tokens and step-latency percentiles of a sliding <see cref="GatewayOptions.ServingWindow"/>
/// (<see cref="StepWindow"/>). The same signals go to Prometheus as <c>moecloud_gateway_queue_depth</c>,
/// <c>moecloud_gateway_inflight_tokens</c> and <c>moecloud_gateway_step_seconds</c>. Only the models the gateway
/// serves have series, so the <c>model</c> label is bounded by its configuration.
/// </summary>
public sealed class ServingMonitor
{
    private readonly Dictionary<string, ModelServing> _models = new(StringComparer.Ordinal);
    private readonly GatewayModels _served;
    private readonly PodDirectory _pods;
    private readonly TimeProvider _time;

    /// <summary>Creates the signals of every model in <paramref name="models"/>, each series at zero.</summary>
    public ServingMonitor(GatewayModels models, PodDirectory pods, GatewayMetrics metrics, IOptions<GatewayOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(options);
        _served = models;
        _pods = pods;
        _time = time;
        foreach (var name in models.Names)
        {
            _models[name] = new ModelServing(
                new StepWindow(options.Value.ServingWindow, time),
                metrics.QueueDepth.WithLabels(name),
                metrics.InFlightTokens.WithLabels(name),
                metrics.StepLatency.WithLabels(name));
            _models[name].Depth.Set(0);
            _models[name].Tokens.Set(0);
        }
    }

    /// <summary>
    /// Counts a step of <paramref name="tokens"/> of <paramref name="model"/> as accepted; disposing the returned scope
    /// answers it, as served when <see cref="StepScope.Served"/> was called first and as failed otherwise.
    /// </summary>
    public StepScope Begin(string model, int tokens)
    {
        var serving = _models.TryGetValue(model, out var found) ? found : throw new ArgumentException($"Model '{model}' is not served.", nameof(model));
        Interlocked.Increment(ref serving.QueueDepth);
        Interlocked.Add(ref serving.InFlightTokens, tokens);
        serving.Depth.Inc();
        serving.Tokens.Inc(tokens);
        return new StepScope(this, serving, tokens, _time.GetTimestamp());
    }

    /// <summary>The signals of <paramref name="model"/> now; null when the gateway does not serve it.</summary>
    public ServingSignals? Read(string model)
    {
        if (!_models.TryGetValue(model, out var serving))
        {
            return null;
        }

        var window = serving.Window.Read();
        var plan = _served.Find(model)?.Plan;
        var placed = plan is null ? 0 : Enumerable.Range(0, plan.PodCount).Count(p => plan.ReplicasOn(p).Count > 0);
        return new ServingSignals(
            model,
            _time.GetUtcNow(),
            window.Window.TotalSeconds,
            window.Requests,
            window.Failed,
            window.TokensPerSecond,
            Volatile.Read(ref serving.QueueDepth),
            Interlocked.Read(ref serving.InFlightTokens),
            window.P50Ms,
            window.P95Ms,
            window.P99Ms,
            placed,
            _pods.Readiness().Healthy);
    }

    private void End(ModelServing serving, int tokens, long started, bool served)
    {
        Interlocked.Decrement(ref serving.QueueDepth);
        Interlocked.Add(ref serving.InFlightTokens, -tokens);
        serving.Depth.Dec();
        serving.Tokens.Dec(tokens);
        if (served)
        {
            var latency = _time.GetElapsedTime(started);
            serving.Window.Served(tokens, latency);
            serving.Latency.Observe(latency.TotalSeconds);
        }
        else
        {
            serving.Window.Failed();
        }
    }

    /// <summary>One accepted step until it is answered.</summary>
    public sealed class StepScope : IDisposable
    {
        private readonly ServingMonitor _monitor;
        private readonly ModelServing _serving;
        private readonly int _tokens;
        private readonly long _started;
        private bool _served;
        private int _ended;

        internal StepScope(ServingMonitor monitor, ModelServing serving, int tokens, long started)
        {
            _monitor = monitor;
            _serving = serving;
            _tokens = tokens;
            _started = started;
        }

        /// <summary>Marks the step as served (its latency counts); call before disposing.</summary>
        public void Served() => _served = true;

        /// <inheritdoc />
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _ended, 1) == 0)
            {
                _monitor.End(_serving, _tokens, _started, _served);
            }
        }
    }

    internal sealed class ModelServing(StepWindow window, Gauge.Child depth, Gauge.Child tokens, Histogram.Child latency)
    {
        public int QueueDepth;
        public long InFlightTokens;

        public StepWindow Window { get; } = window;

        public Gauge.Child Depth { get; } = depth;

        public Gauge.Child Tokens { get; } = tokens;

        public Histogram.Child Latency { get; } = latency;
    }
}
