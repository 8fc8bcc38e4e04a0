using System.Text.Json.Serialization;

namespace MoeCloud.Contracts.Admin;

/// <summary>
/// The body of <c>GET admin/v1/serving</c>: one gateway's serving signals for one model, the inputs of pod autoscaling.
/// Latency percentiles and rates cover the last <see cref="WindowSeconds"/>; queue depth and in-flight tokens are
/// read at <see cref="At"/>. Several gateway replicas each report their own; a reader sums the counts and takes the
/// largest percentile.
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="At">When the gateway read the signals.</param>
/// <param name="WindowSeconds">Seconds the windowed figures cover.</param>
/// <param name="Requests">Forward requests finished in the window (any outcome).</param>
/// <param name="Failed">Of them, requests that failed.</param>
/// <param name="TokensPerSecond">Tokens served per second over the window.</param>
/// <param name="QueueDepth">Forward requests accepted and not yet answered, now.</param>
/// <param name="InFlightTokens">Tokens of those requests, now.</param>
/// <param name="StepP50Ms">Median forward-step latency in the window (milliseconds, at the gateway); null when no request finished.</param>
/// <param name="StepP95Ms">95th percentile of the same.</param>
/// <param name="StepP99Ms">99th percentile of the same.</param>
/// <param name="PlacedPods">Pods the plan in effect places experts on.</param>
/// <param name="HealthyPods">Member pods the gateway's health checks pass.</param>
public sealed record ServingSignals(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("windowSeconds")] double WindowSeconds,
    [property: JsonPropertyName("requests")] long Requests,
    [property: JsonPropertyName("failed")] long Failed,
    [property: JsonPropertyName("tokensPerSecond")] double TokensPerSecond,
    [property: JsonPropertyName("queueDepth")] int QueueDepth,
    [property: JsonPropertyName("inFlightTokens")] long InFlightTokens,
    [property: JsonPropertyName("stepP50Ms")] double? StepP50Ms,
    [property: JsonPropertyName("stepP95Ms")] double? StepP95Ms,
    [property: JsonPropertyName("stepP99Ms")] double? StepP99Ms,
    [property: JsonPropertyName("placedPods")] int PlacedPods,
    [property: JsonPropertyName("healthyPods")] int HealthyPods);
