using Prometheus;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// Prometheus metrics of one silo, in its own registry (several silos can share a process in the embedded cluster).
/// Labels are bounded: model, dispatch kind, outcome — never layer × expert (58 × 256 series would be too many;
/// per-expert counts travel through the telemetry profile instead, and the gateway exports the hottest ten by rank).
/// </summary>
public sealed class SiloMetrics
{
    /// <summary>Creates the metrics in a fresh registry.</summary>
    public SiloMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Dispatches = factory.CreateCounter("moecloud_silo_dispatches_total", "Expert dispatches of requests homed on this silo.", "model", "kind");
        Requests = factory.CreateCounter("moecloud_silo_requests_total", "Request steps run by this silo's runner.", "model", "outcome");
        Tokens = factory.CreateCounter("moecloud_silo_tokens_total", "Tokens run through the stack by this silo's runner (tokens × layers).", "model");
        KernelSeconds = factory.CreateHistogram("moecloud_silo_kernel_seconds", "Time of the expert kernels of one layer's work on this silo (all its expert groups).", new HistogramConfiguration
        {
            LabelNames = ["model"],
            Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16),
        });
        KernelTokens = factory.CreateCounter("moecloud_silo_kernel_tokens_total", "Tokens computed by expert kernels on this silo.", "model");
        QueueDepth = factory.CreateGauge("moecloud_silo_queue_depth", "Layer messages this silo has sent to other pods and not yet had answered.");
        ActiveReplicas = factory.CreateGauge("moecloud_silo_active_replicas", "Expert replica activations on this silo.", "model");
        PlanVersion = factory.CreateGauge("moecloud_silo_plan_version", "The plan version this silo serves with.", "model");
        ExpertCalls = factory.CreateCounter("moecloud_silo_expert_calls_total", "Expert kernel calls run on this silo (one per expert group of a layer's work).");
        ActivationCopies = factory.CreateCounter("moecloud_silo_activation_row_copies_total", "Activation rows this silo's data path copied: gathers into layer messages and into kernel batches.", "model");
        StepSeconds = factory.CreateHistogram("moecloud_silo_step_seconds", "Time of one request step served by this silo's runner (all its layers), steps that succeeded.", new HistogramConfiguration
        {
            LabelNames = ["model"],
            Buckets = Histogram.ExponentialBuckets(0.0005, 2, 18),
        });
        Warmups = factory.CreateCounter("moecloud_silo_warmups_total", "Expert replicas this silo activated (weights loaded), by outcome (ok, failed).", "model", "outcome");
        WarmupSeconds = factory.CreateHistogram("moecloud_silo_warmup_seconds", "Time to load one expert replica's weights on this silo.", new HistogramConfiguration
        {
            LabelNames = ["model"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 16),
        });
        RepairWaits = factory.CreateCounter("moecloud_silo_repair_waits_total", "Layer work of this silo's steps that found no live replica of an expert and waited for a repair plan, by outcome (served: a newer plan took effect; expired: the step's deadline passed first).", "model", "outcome");
        UnreachableProbes = factory.CreateCounter("moecloud_silo_unreachable_probes_total", "Pods this silo probed after they refused layer work while holding the only replica of an expert a step needed, by outcome: declared-dead (both probes refused: the silo was declared dead so that the repair need not wait for the cluster), not-declared (the membership did not take the declaration), answered, error (the pod answered with one) or timed-out (left to the cluster's own failure detection).", "outcome");
        GateRoutings = factory.CreateCounter("moecloud_silo_gate_routings_total", "Layers of request steps this silo's runner routed, by source: computed (its gate ran), carried (the gateway's gate for the step's first layer), forced (the request's routing).", "model", "source");
        RemoteFailures = factory.CreateCounter("moecloud_silo_remote_layer_failures_total", "Layer messages this silo's steps sent to other pods that failed, by cause (error: the call failed; timeout: no answer within RemoteReplyTimeout, the pod presumed unreachable). Their experts were retried on other replicas.", "model", "cause");
        ExpertBackend = factory.CreateGauge("moecloud_silo_expert_backend_info", "1 for the expert backend this silo runs (cpu-avx512, cpu-avx2-fma, cpu-portable; -managed-gemm appended without OpenBLAS).", "backend");
        JitCompiledMethods = factory.CreateGauge("moecloud_silo_jit_compiled_methods", "Methods the JIT has compiled in this silo's process so far (System.Runtime.JitInfo; the silos of an embedded cluster share one process). Still rising under steady load: the process is still optimising its hot code (tiered compilation), and its steps are slower than they will be.");
        JitSeconds = factory.CreateGauge("moecloud_silo_jit_seconds", "Time the JIT has spent compiling in this silo's process so far (System.Runtime.JitInfo).");
        Registry.AddBeforeCollectCallback(() =>
        {
            JitCompiledMethods.Set(System.Runtime.JitInfo.GetCompiledMethodCount());
            JitSeconds.Set(System.Runtime.JitInfo.GetCompilationTime().TotalSeconds);
        });
    }

    /// <summary><c>moecloud_silo_jit_compiled_methods</c>: set from <see cref="System.Runtime.JitInfo"/> at each scrape.</summary>
    public Gauge JitCompiledMethods { get; }

    /// <summary><c>moecloud_silo_jit_seconds</c>: set from <see cref="System.Runtime.JitInfo"/> at each scrape.</summary>
    public Gauge JitSeconds { get; }

    /// <summary><c>moecloud_silo_gate_routings_total{model, source}</c>: per step layer, where its routing came from.</summary>
    public Counter GateRoutings { get; }

    /// <summary>The expert backend, as a label of an info gauge set to 1.</summary>
    public Gauge ExpertBackend { get; }

    /// <summary><c>moecloud_silo_repair_waits_total{model, outcome}</c>.</summary>
    public Counter RepairWaits { get; }

    /// <summary><c>moecloud_silo_unreachable_probes_total{outcome}</c>: this silo's probes of pods that refused layer work (<see cref="Serving.UnreachablePods"/>).</summary>
    public Counter UnreachableProbes { get; }

    /// <summary><c>moecloud_silo_remote_layer_failures_total{model, cause}</c>: cause <c>error</c> or <c>timeout</c>.</summary>
    public Counter RemoteFailures { get; }

    /// <summary>The registry <c>/metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Dispatches by model and kind (local, remote).</summary>
    public Counter Dispatches { get; }

    /// <summary>Request steps by model and outcome (ok, invalid, failed).</summary>
    public Counter Requests { get; }

    /// <summary>Token-layers run.</summary>
    public Counter Tokens { get; }

    /// <summary>Request step durations (successful steps), by model; per pod through the scrape's instance.</summary>
    public Histogram StepSeconds { get; }

    /// <summary>Replica activations (weight loads) by model and outcome.</summary>
    public Counter Warmups { get; }

    /// <summary>Weight-load durations of replica activations, by model.</summary>
    public Histogram WarmupSeconds { get; }

    /// <summary>Kernel call durations.</summary>
    public Histogram KernelSeconds { get; }

    /// <summary>Tokens computed by kernels.</summary>
    public Counter KernelTokens { get; }

    /// <summary>Layer messages in flight to other pods.</summary>
    public Gauge QueueDepth { get; }

    /// <summary>Replica activations.</summary>
    public Gauge ActiveReplicas { get; }

    /// <summary>Plan version per model.</summary>
    public Gauge PlanVersion { get; }

    /// <summary>Expert kernel calls.</summary>
    public Counter ExpertCalls { get; }

    /// <summary>Activation rows copied by the data path, by model.</summary>
    public Counter ActivationCopies { get; }
}
