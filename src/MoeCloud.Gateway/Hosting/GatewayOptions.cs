using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Security;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Hosting;

/// <summary>How the gateway picks each token's home pod.</summary>
public enum HomePolicyName
{
    /// <summary>Predict each token's experts (first layer's gate, the sequence's previous step, transition statistics) and home it where most are local, within home-load balance.</summary>
    Speculative,

    /// <summary>The whole batch to the pod with the fewest requests in flight (YARP's least-requests policy): the baseline.</summary>
    LeastRequests,
}

/// <summary>What the speculative policy homes: each token on its own (token shuffling) or each request as a whole.</summary>
public enum HomeGranularity
{
    /// <summary>Each token gets its own home pod; the request is split by home (fewest remote dispatches).</summary>
    Token,

    /// <summary>
    /// One home per request, the pod with the most predicted local dispatches summed over its tokens: more remote
    /// dispatches, but each expert runs once per request with all its tokens (fewer weight reads; docs/BENCHMARKS.md
    /// <i>Cluster</i> measures the trade).
    /// </summary>
    Request,

    /// <summary>
    /// Per request, whichever of the two costs less on the pods' link (<see cref="GatewayOptions.HomeSplitLink"/>):
    /// split over the tokens' homes when the remote dispatches the split is predicted to save outweigh the messages it
    /// adds (one runner call per home, and a dispatch and a combine message per layer from each home to each other
    /// pod), otherwise homed whole (<c>MoeCloud.Placement.Simulation.SplitRule</c>). Small requests on a link whose
    /// messages cost more than their bytes, such as decode steps or pods on one machine, go whole; large batches on a
    /// fast link are split.
    /// </summary>
    Auto,
}

/// <summary>How the gateway finds the pods it forwards to.</summary>
public enum PodDiscovery
{
    /// <summary>Every active silo of the cluster, at the addresses it advertises (<c>IPodAgentGrain.Describe</c>).</summary>
    Membership,

    /// <summary>Pods 0 .. N−1 of the live plan, at addresses built from <see cref="GatewayOptions.PodRunnerTemplate"/>.</summary>
    Templates,

    /// <summary>The fixed list <see cref="GatewayOptions.Pods"/>.</summary>
    Static,
}

/// <summary>A pod the gateway forwards to.</summary>
public sealed class GatewayPod
{
    /// <summary>Pod index.</summary>
    public int Pod { get; set; }

    /// <summary>Runner API address (gRPC, HTTP/2).</summary>
    public string Runner { get; set; } = "";

    /// <summary>Ops address serving <c>/readyz</c> (active health checks).</summary>
    public string Ops { get; set; } = "";

    /// <summary>The expert backend the pod runs, as its silo reports it (membership discovery); null when unknown.</summary>
    public string? ExpertBackend { get; set; }
}

/// <summary>An API key, stored as its SHA-256 (hex); the key itself is never configured.</summary>
public sealed class ApiKeyEntry
{
    /// <summary>Who holds it (for metrics and logs).</summary>
    public string Name { get; set; } = "";

    /// <summary>Lower-case hex SHA-256 of the key.</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>
    /// Sustained requests per second allowed for this key, in [1e-9, 1000000]; fractional rates are exact (0.5: one
    /// request every 2 s). Default 200.
    /// </summary>
    public double RequestsPerSecond { get; set; } = 200;

    /// <summary>
    /// Most requests this key may send at once (the token bucket's size, in [1, 10000000]): over any T seconds it is
    /// admitted at most <c>RequestsPerSecond·T + Burst</c> requests. Default (null): 2 s worth, at least 1.
    /// </summary>
    public int? Burst { get; set; }

    /// <summary>The bucket size in use: <see cref="Burst"/>, or 2 s worth of <see cref="RequestsPerSecond"/> (at least 1).</summary>
    public int EffectiveBurst => Burst ?? (int)Math.Clamp(Math.Ceiling(RequestsPerSecond * 2), 1, 10_000_000);
}

/// <summary>Configuration of the gateway. Section <c>MoeCloud:Gateway</c>.</summary>
public sealed class GatewayOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "MoeCloud:Gateway";

    /// <summary>gRPC port (HTTP/2). Default 5000.</summary>
    public int GrpcPort { get; set; } = 5000;

    /// <summary>HTTP/1.1 port: JSON API, admin API, <c>/healthz</c>, <c>/metrics</c>. Default 8080.</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>Address to bind (default loopback).</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>PFX certificate for TLS on both ports; plain text when empty.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Password of <see cref="CertificatePath"/>.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// The pods (fixed addresses). Leave empty, with no templates, to follow cluster membership: the gateway then asks
    /// every active silo for the addresses it serves on (the default, and what a local cluster and Kubernetes use).
    /// </summary>
    public List<GatewayPod> Pods { get; set; } = [];

    /// <summary>
    /// Runner address of pod <c>{pod}</c>, for example <c>http://lite-silo-{pod}.lite-silo.default.svc:5100</c> (a
    /// StatefulSet's stable names): with it the gateway forwards to pods 0 .. N−1 of the live plan, so pods added by a
    /// scale-out are used as soon as a plan places experts on them.
    /// </summary>
    public string? PodRunnerTemplate { get; set; }

    /// <summary>Ops address (<c>/readyz</c>) of pod <c>{pod}</c>, used with <see cref="PodRunnerTemplate"/>.</summary>
    public string? PodOpsTemplate { get; set; }

    /// <summary>How the gateway finds the pods' addresses, from the options given.</summary>
    public PodDiscovery Discovery => Pods.Count > 0 ? PodDiscovery.Static : PodRunnerTemplate is not null ? PodDiscovery.Templates : PodDiscovery.Membership;

    /// <summary>The pods of a plan with <paramref name="pods"/> pods, from the templates.</summary>
    public List<GatewayPod> PodsFromTemplates(int pods) =>
        Enumerable.Range(0, pods).Select(p => new GatewayPod
        {
            Pod = p,
            Runner = PodRunnerTemplate!.Replace("{pod}", p.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal),
            Ops = PodOpsTemplate!.Replace("{pod}", p.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal),
        }).ToList();

    /// <summary>Models: name → checkpoint directory (the gateway loads only the first MoE layer's norm and gate).</summary>
    public Dictionary<string, string> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Routing traces whose transition statistics seed the speculative policy, by model (optional; live telemetry otherwise).</summary>
    public Dictionary<string, string> ProfileTraces { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Home policy. Default speculative.</summary>
    public HomePolicyName HomePolicy { get; set; } = HomePolicyName.Speculative;

    /// <summary>Whether the speculative policy homes tokens or whole requests. Default <see cref="HomeGranularity.Token"/>.</summary>
    public HomeGranularity HomeGranularity { get; set; } = HomeGranularity.Token;

    /// <summary>
    /// The pods' link that <see cref="HomeGranularity.Auto"/> prices a split on: a preset (<c>loopback</c>, the
    /// default, for pods on one machine; <c>nvlink</c>, <c>ib400</c>, <c>eth100</c>) or <c>&lt;GB/s&gt;,&lt;µs&gt;</c>.
    /// </summary>
    public string HomeSplitLink { get; set; } = "loopback";

    /// <summary>
    /// Sequence affinity: a decode step of a known sequence stays on its previous home unless another pod's predicted
    /// local dispatches are higher by at least this much (0: no affinity). Default 0.5, in [0, 1000].
    /// </summary>
    public double SequenceAffinityMargin { get; set; } = 0.5;

    /// <summary>Most tokens a request may have to count as a decode step for <see cref="SequenceAffinityMargin"/>. Default 4.</summary>
    public int SequenceAffinityMaxTokens { get; set; } = 4;

    /// <summary>
    /// Client API keys (hashes; environment form <c>MoeCloud__Gateway__ApiKeys__0__Name</c>,
    /// <c>MoeCloud__Gateway__ApiKeys__0__Sha256</c>, …). Without any, the gateway refuses to start unless
    /// <see cref="AllowAnonymous"/> is set.
    /// </summary>
    public List<ApiKeyEntry> ApiKeys { get; set; } = [];

    /// <summary>
    /// Serve the data API to requests without a key (local use only; a request that presents a key must still present a
    /// valid one, and the admin API always needs an admin key). Default false: a gateway without <see cref="ApiKeys"/>
    /// does not start.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>Admin API keys (a client key does not open the admin API).</summary>
    public List<ApiKeyEntry> AdminKeys { get; set; } = [];

    /// <summary>Most tokens in one request. Default 8192.</summary>
    public int MaxTokensPerRequest { get; set; } = 8192;

    /// <summary>Largest request body in bytes. Default 64 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 64 << 20;

    /// <summary>Deadline for a request when the client sets none. Default 30 s.</summary>
    public TimeSpan DefaultDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per sub-batch when a pod is unavailable (each on another pod). Default 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// How long opening a connection to a pod's runner may take, in [10 ms, 1 min]; past it the attempt fails with
    /// <c>Unavailable</c> and the sub-batch is retried on another pod. A pod's address that vanished with it (a killed
    /// container's network namespace) answers nothing: no refusal, no reset, only TCP's SYN retransmissions, so without
    /// a bound each new connection to it would hold its sub-batch for seconds. A live pod on the cluster network accepts
    /// within milliseconds (the kernel answers the handshake, however busy the pod). Default 1 s.
    /// </summary>
    public TimeSpan RunnerConnectTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Retry budget: retries earned per sub-batch sent, in [0, 1]. With <see cref="RetryBudgetReserve"/> R, S sends
    /// allow at most R + ratio·S retries, whatever <see cref="MaxAttempts"/> says. Default 0.2.
    /// </summary>
    public double RetryBudgetRatio { get; set; } = 0.2;

    /// <summary>Retry budget: retries allowed before any are earned (the budget's size), in [0, 100000]. Default 20.</summary>
    public int RetryBudgetReserve { get; set; } = 20;

    /// <summary>How often the live plan is read from the cluster. Default 1 s.</summary>
    public TimeSpan PlanRefresh { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The sliding window of the serving signals (<c>GET admin/v1/serving</c>: step latency percentiles, steps,
    /// failures, tokens/s), whole seconds in [1 s, 10 min]. Default 30 s.
    /// </summary>
    public TimeSpan ServingWindow { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Validates <see cref="GatewayOptions"/>, reporting every problem at once.</summary>
public sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    /// <summary>The failure of a gateway that has no client key and does not allow anonymous access: how to set keys.</summary>
    public const string NoClientKeys =
        "No client API key is configured and AllowAnonymous is not set: the gateway does not start rather than serve its data API to anyone. "
        + "Give each key as its lower-case hex SHA-256 in MoeCloud:Gateway:ApiKeys (Name, Sha256, optional RequestsPerSecond and Burst): "
        + "in the JSON file of `moectl gateway --config <file>`, or as environment variables MoeCloud__Gateway__ApiKeys__0__Name=app and "
        + "MoeCloud__Gateway__ApiKeys__0__Sha256=$(printf %s \"$KEY\" | sha256sum | cut -d' ' -f1) (on Kubernetes, entries of the Secret <deployment>-gateway-keys); "
        + "`moectl up` generates fresh keys for a local cluster. To serve without keys (local use only), set MoeCloud:Gateway:AllowAnonymous=true "
        + "(MoeCloud__Gateway__AllowAnonymous=true).";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.GrpcPort is < 1 or > 65535 || options.HttpPort is < 1 or > 65535 || options.GrpcPort == options.HttpPort)
        {
            failures.Add($"GrpcPort and HttpPort must be distinct ports in [1, 65535] (got {options.GrpcPort} and {options.HttpPort}).");
        }

        var templated = options.PodRunnerTemplate is not null || options.PodOpsTemplate is not null;
        if (templated && (options.PodRunnerTemplate?.Contains("{pod}", StringComparison.Ordinal) != true || options.PodOpsTemplate?.Contains("{pod}", StringComparison.Ordinal) != true
            || !Uri.TryCreate(options.PodRunnerTemplate.Replace("{pod}", "0", StringComparison.Ordinal), UriKind.Absolute, out _)
            || !Uri.TryCreate(options.PodOpsTemplate.Replace("{pod}", "0", StringComparison.Ordinal), UriKind.Absolute, out _)))
        {
            failures.Add("PodRunnerTemplate and PodOpsTemplate go together and must be absolute URLs containing {pod}.");
        }

        if (options.Pods.Count > 0 && templated)
        {
            failures.Add("Give either Pods or PodRunnerTemplate and PodOpsTemplate, not both (or neither, to follow cluster membership).");
        }

        foreach (var pod in options.Pods)
        {
            if (!Uri.TryCreate(pod.Runner, UriKind.Absolute, out _) || !Uri.TryCreate(pod.Ops, UriKind.Absolute, out _))
            {
                failures.Add($"Pod {pod.Pod} needs absolute Runner and Ops addresses (got '{pod.Runner}', '{pod.Ops}').");
            }
        }

        if (options.Pods.Select(p => p.Pod).Distinct().Count() != options.Pods.Count)
        {
            failures.Add("Pod indices must be distinct.");
        }

        if (options.Models.Count == 0)
        {
            failures.Add("At least one model is needed.");
        }

        foreach (var key in options.ApiKeys.Concat(options.AdminKeys))
        {
            if (!ApiKeys.IsHash(key.Sha256))
            {
                failures.Add($"API key '{key.Name}' must be given as the 64-digit hex SHA-256 of the key.");
            }

            if (key.RequestsPerSecond is not (>= 1e-9 and <= 1_000_000))
            {
                failures.Add($"API key '{key.Name}' needs RequestsPerSecond in [1e-9, 1000000] (got {key.RequestsPerSecond}).");
            }

            if (key.Burst is < 1 or > 10_000_000)
            {
                failures.Add($"API key '{key.Name}' needs Burst in [1, 10000000] when set (got {key.Burst}).");
            }
        }

        if (options.ApiKeys.Count == 0 && !options.AllowAnonymous)
        {
            failures.Add(NoClientKeys);
        }

        if (options.MaxTokensPerRequest is < 1 or > 1 << 20)
        {
            failures.Add($"MaxTokensPerRequest must be in [1, 1048576], got {options.MaxTokensPerRequest}.");
        }

        if (options.MaxRequestBytes < 1024)
        {
            failures.Add($"MaxRequestBytes must be at least 1024, got {options.MaxRequestBytes}.");
        }

        if (options.DefaultDeadline <= TimeSpan.Zero || options.PlanRefresh <= TimeSpan.Zero)
        {
            failures.Add("DefaultDeadline and PlanRefresh must be positive.");
        }

        if (options.ServingWindow < TimeSpan.FromSeconds(1) || options.ServingWindow > TimeSpan.FromMinutes(10) || options.ServingWindow.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            failures.Add($"ServingWindow must be whole seconds in [1 s, 10 min], got {options.ServingWindow}.");
        }

        if (!double.IsFinite(options.SequenceAffinityMargin) || options.SequenceAffinityMargin is < 0 or > 1000 || options.SequenceAffinityMaxTokens < 0)
        {
            failures.Add($"SequenceAffinityMargin must be in [0, 1000] and SequenceAffinityMaxTokens not negative (got {options.SequenceAffinityMargin} and {options.SequenceAffinityMaxTokens}).");
        }

        if (!Enum.IsDefined(options.HomeGranularity))
        {
            failures.Add($"HomeGranularity must be Token, Request or Auto, got {options.HomeGranularity}.");
        }

        try
        {
            LinkModel.Parse(options.HomeSplitLink ?? "");
        }
        catch (ArgumentException e)
        {
            failures.Add($"HomeSplitLink: {e.Message}");
        }

        if (options.MaxAttempts is < 1 or > 16)
        {
            failures.Add($"MaxAttempts must be in [1, 16], got {options.MaxAttempts}.");
        }

        if (options.RunnerConnectTimeout < TimeSpan.FromMilliseconds(10) || options.RunnerConnectTimeout > TimeSpan.FromMinutes(1))
        {
            failures.Add($"RunnerConnectTimeout must be in [10 ms, 1 min], got {options.RunnerConnectTimeout}.");
        }

        if (options.RetryBudgetRatio is not (>= 0 and <= 1) || options.RetryBudgetReserve is < 0 or > 100_000)
        {
            failures.Add($"RetryBudgetRatio must be in [0, 1] and RetryBudgetReserve in [0, 100000] (got {options.RetryBudgetRatio} and {options.RetryBudgetReserve}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
