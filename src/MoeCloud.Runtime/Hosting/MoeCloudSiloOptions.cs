using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Security;

namespace MoeCloud.Runtime.Hosting;

/// <summary>How silos find each other.</summary>
public enum ClusteringMode
{
    /// <summary>Silos on this machine, found by loopback ports (the embedded local cluster).</summary>
    Localhost,

    /// <summary>Membership in Redis (separate processes; the multi-process local cluster).</summary>
    Redis,

    /// <summary>
    /// Kubernetes: silo name, cluster id and addresses from the pod (requires RBAC to list pods), with membership in
    /// Redis (<see cref="MoeCloudSiloOptions.RedisConnectionString"/>): Kubernetes hosting gives a silo its identity, not a
    /// membership store.
    /// </summary>
    Kubernetes,
}

/// <summary>Configuration of one MoeCloud silo (one accelerator pod). Section <c>MoeCloud:Silo</c>.</summary>
public sealed class MoeCloudSiloOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "MoeCloud:Silo";

    /// <summary>Pod index; the silo is named <c>pod-{index}</c> (in Kubernetes the StatefulSet ordinal). Range 0–4095.</summary>
    public int PodIndex { get; set; }

    /// <summary>How silos find each other. Default <see cref="ClusteringMode.Localhost"/>.</summary>
    public ClusteringMode Clustering { get; set; } = ClusteringMode.Localhost;

    /// <summary>Orleans cluster id. Default <c>moecloud</c>.</summary>
    public string ClusterId { get; set; } = "moecloud";

    /// <summary>Orleans service id. Default <c>moecloud</c>.</summary>
    public string ServiceId { get; set; } = "moecloud";

    /// <summary>Redis connection string for <see cref="ClusteringMode.Redis"/>, for example <c>127.0.0.1:6379</c>.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Silo-to-silo port (0: pick a free one). Localhost clustering needs fixed ports.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Orleans client gateway port (0: pick a free one).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>For localhost clustering: the primary silo's silo port (every silo joins through it).</summary>
    public int PrimarySiloPort { get; set; } = 11111;

    /// <summary>Address silos advertise and bind (default loopback: nothing is exposed off the machine).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>HTTP/2 (gRPC) port of the runner API the gateway forwards to (0: pick a free one).</summary>
    public int RunnerPort { get; set; } = 5100;

    /// <summary>HTTP/1.1 port for <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c> and the dashboard (<see cref="Dashboard"/>) (0: pick a free one).</summary>
    public int OpsPort { get; set; } = 9100;

    /// <summary>Models this pod serves: name → checkpoint directory (a Hugging Face <c>config.json</c> plus safetensors).</summary>
    public Dictionary<string, string> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Threads the expert kernel may use per call. Default 1 (replicas run in parallel on the silo).</summary>
    public int KernelThreads { get; set; } = 1;

    /// <summary>
    /// Replicas a plan rollout warms at once on one pod (loading weights competes with serving for the pod's cores and
    /// memory bandwidth). Default 1, in [1, 64].
    /// </summary>
    public int WarmupsPerPod { get; set; } = 1;

    /// <summary>
    /// Replicas a plan rollout warms at once across the cluster. Default 64, in [1, 4096]; a local cluster whose silos
    /// share one machine sets 1.
    /// </summary>
    public int WarmupsInFlight { get; set; } = 64;

    /// <summary>
    /// Most token rows in one coalesced batch of a layer's expert work: work for the same layer and pod that arrives
    /// while such work computes waits and leaves together, each expert running once on all of it. Default 4096.
    /// </summary>
    public int MaxBatchTokens { get; set; } = 4096;

    /// <summary>
    /// Two-batch overlap: micro-batches a step is cut into (1 = off, at most 4). The micro-batches run through the layers
    /// at once, so that one computes its local experts while another waits for its remote pods; each pays its own
    /// message per remote pod per layer. A step is cut only into micro-batches of at least
    /// <see cref="MicroBatchMinTokens"/> tokens. Default 1.
    /// </summary>
    public int MicroBatches { get; set; } = 1;

    /// <summary>The fewest tokens a micro-batch of <see cref="MicroBatches"/> holds: a smaller step is not cut. Default 8.</summary>
    public int MicroBatchMinTokens { get; set; } = 8;

    /// <summary>
    /// Whether the runner re-homes tokens between layers (DESIGN.md §2, speculative token shuffling) with the
    /// simulator's rule. Needs the model's profile trace in <see cref="ProfileTraces"/>. Default off.
    /// </summary>
    public bool Rehome { get; set; }

    /// <summary>Per model, a routing trace directory whose transition statistics drive re-homing (the trace <c>moectl simulate --rehome</c> is given).</summary>
    public Dictionary<string, string> ProfileTraces { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How often telemetry deltas are flushed to the cluster-wide aggregate. Default 1 s.</summary>
    public TimeSpan TelemetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Tokens the live profile covers: the telemetry aggregate's load counts, transition counts and token sample are
    /// those of the most recent this many token-steps (older traffic drops out in quarter-window buckets), while token
    /// and dispatch totals stay lifetime counts. Default 32,768, in [1,024, 1,073,741,824]. The default is two of the
    /// Placement library's default sample size (16,384 tokens): at least 32,768 × topK dispatches per layer (a
    /// mean-loaded expert of a 64-expert top-6 model is counted about 3,000 times, ±2%), yet at the hundreds of tokens
    /// per second a CPU cluster serves it spans a minute or two, shorter than the operator's default re-placement
    /// interval (300 s), so each re-placement sees the traffic since the one before. The aggregate runs on one silo and
    /// takes that silo's value.
    /// </summary>
    public int TelemetryWindowTokens { get; set; } = 32768;

    /// <summary>
    /// How long a stop may take, whether or not the membership store answers: the host's shutdown (the Orleans silo
    /// leaving the cluster, grains deactivating, the endpoints draining) gets this long, and a silo process that has not
    /// finished by then logs what it could not do and exits. Default 20 s (inside Kubernetes' default 30 s termination
    /// grace period), in [1 s, 10 min].
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// How long a step waits for another pod's answer to one layer message before it presumes the pod unreachable and
    /// sends the work to the experts' other replicas (a late answer is ignored). A pod cut off the network (link down,
    /// no reset) fails no call: without this bound the wait lasts Orleans's response timeout (30 s), past most
    /// requests' deadlines. Default 2 s, in [10 ms, 10 min]: a layer message normally takes milliseconds, so this is
    /// far above its latency under load, yet leaves time for a retry inside a request's deadline (the .NET client's
    /// default is 30 s; <c>moectl bench chaos</c> sets 10 s). Keep it well below the deadlines clients set; where a
    /// layer's kernels legitimately take longer (very large batches on slow pods), raise it, or that work is computed
    /// twice.
    /// </summary>
    public TimeSpan RemoteReplyTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a step's runner keeps other replicas first after a pod failed or did not answer a layer message within
    /// <see cref="RemoteReplyTimeout"/>: until then an expert with a replica elsewhere is sent there, so that only the
    /// first step that met the failure pays the timeout (a cut-off pod stays a member until the cluster declares it
    /// dead, which takes longer). A pod that answers is trusted again at once; an expert with no other replica is still
    /// sent to it. Default 10 s, in [0, 10 min]; zero turns the avoidance off.
    /// </summary>
    public TimeSpan AvoidFailedPodFor { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether the silo serves the Orleans Dashboard (grain activations, calls, silo health) at
    /// <see cref="OpsDashboard.Path"/> on <see cref="OpsPort"/>, behind an admin key of <see cref="AdminKeySha256"/>.
    /// Default off: the dashboard also times every grain call, which costs a little on the hot path.
    /// </summary>
    public bool Dashboard { get; set; }

    /// <summary>
    /// Lower-case hex SHA-256 of each key that opens the silo's admin pages (the dashboard), as the gateway's
    /// <c>AdminKeys</c> store theirs (<c>printf %s "$KEY" | sha256sum</c>). Required when <see cref="Dashboard"/> is on.
    /// In a pod the silo also takes the deployment's gateway admin keys (<c>MoeCloud:Gateway:AdminKeys:N:Sha256</c>, the
    /// Secret <c>&lt;name&gt;-gateway-keys</c>), so one key opens both.
    /// </summary>
    public List<string> AdminKeySha256 { get; set; } = [];

    /// <summary>The silo name derived from <see cref="PodIndex"/>.</summary>
    public string SiloName => $"pod-{PodIndex}";
}

/// <summary>Validates <see cref="MoeCloudSiloOptions"/>, reporting every problem at once.</summary>
public sealed class MoeCloudSiloOptionsValidator : IValidateOptions<MoeCloudSiloOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, MoeCloudSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.PodIndex is < 0 or > 4095)
        {
            failures.Add($"PodIndex must be in [0, 4095], got {options.PodIndex}.");
        }

        if (options.Clustering is ClusteringMode.Redis or ClusteringMode.Kubernetes && string.IsNullOrWhiteSpace(options.RedisConnectionString))
        {
            failures.Add($"RedisConnectionString is required when Clustering is {options.Clustering} (the membership store).");
        }

        foreach (var (port, label) in new[] { (options.SiloPort, "SiloPort"), (options.GatewayPort, "GatewayPort"), (options.RunnerPort, "RunnerPort"), (options.OpsPort, "OpsPort"), (options.PrimarySiloPort, "PrimarySiloPort") })
        {
            if (port is < 0 or > 65535)
            {
                failures.Add($"{label} must be in [0, 65535], got {port}.");
            }
        }

        if (options.Clustering == ClusteringMode.Localhost && (options.SiloPort == 0 || options.PrimarySiloPort == 0))
        {
            failures.Add("Localhost clustering needs fixed SiloPort and PrimarySiloPort (not 0).");
        }

        if (options.WarmupsPerPod is < 1 or > 64 || options.WarmupsInFlight is < 1 or > 4096)
        {
            failures.Add($"WarmupsPerPod must be in [1, 64] and WarmupsInFlight in [1, 4096], got {options.WarmupsPerPod} and {options.WarmupsInFlight}.");
        }

        if (options.MaxBatchTokens is < 1 or > 1 << 20)
        {
            failures.Add($"MaxBatchTokens must be in [1, 1048576], got {options.MaxBatchTokens}.");
        }

        if (options.KernelThreads is < 1 or > 256)
        {
            failures.Add($"KernelThreads must be in [1, 256], got {options.KernelThreads}.");
        }

        if (options.TelemetryInterval <= TimeSpan.Zero)
        {
            failures.Add($"TelemetryInterval must be positive, got {options.TelemetryInterval}.");
        }

        if (options.ShutdownTimeout < TimeSpan.FromSeconds(1) || options.ShutdownTimeout > TimeSpan.FromMinutes(10))
        {
            failures.Add($"ShutdownTimeout must be in [1 s, 10 min], got {options.ShutdownTimeout}.");
        }

        if (options.MicroBatches is < 1 or > 4)
        {
            failures.Add($"MicroBatches must be in [1, 4], got {options.MicroBatches}.");
        }

        if (options.MicroBatchMinTokens is < 1 or > 1 << 20)
        {
            failures.Add($"MicroBatchMinTokens must be in [1, 1048576], got {options.MicroBatchMinTokens}.");
        }

        if (options.RemoteReplyTimeout < TimeSpan.FromMilliseconds(10) || options.RemoteReplyTimeout > TimeSpan.FromMinutes(10))
        {
            failures.Add($"RemoteReplyTimeout must be in [10 ms, 10 min], got {options.RemoteReplyTimeout}.");
        }

        if (options.AvoidFailedPodFor < TimeSpan.Zero || options.AvoidFailedPodFor > TimeSpan.FromMinutes(10))
        {
            failures.Add($"AvoidFailedPodFor must be in [0, 10 min], got {options.AvoidFailedPodFor}.");
        }

        if (options.TelemetryWindowTokens is < 1024 or > 1 << 30)
        {
            failures.Add($"TelemetryWindowTokens must be in [1024, 1073741824] tokens, got {options.TelemetryWindowTokens}.");
        }

        if (options.Dashboard && options.AdminKeySha256.Count == 0)
        {
            failures.Add("Dashboard needs at least one AdminKeySha256 (the SHA-256 of an admin key): the dashboard is never served without a key.");
        }

        if (options.AdminKeySha256.Any(h => !ApiKeys.IsHash(h)))
        {
            failures.Add("Each AdminKeySha256 must be the 64-digit hex SHA-256 of a key.");
        }

        foreach (var (model, dir) in options.Models)
        {
            if (string.IsNullOrWhiteSpace(model) || model.Contains('/', StringComparison.Ordinal) || model.Contains('@', StringComparison.Ordinal))
            {
                failures.Add($"Model name '{model}' must be non-empty and contain no '/' or '@'.");
            }

            if (string.IsNullOrWhiteSpace(dir))
            {
                failures.Add($"Model '{model}' needs a checkpoint directory.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
