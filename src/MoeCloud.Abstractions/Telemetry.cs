namespace MoeCloud.Abstractions;

/// <summary>
/// Routing counts one silo observed since its last flush. Arrays are little-endian bytes (Orleans copies byte arrays
/// in one block): <see cref="Load"/> is int64 <c>[layers, experts]</c>; transitions are sparse, int32 cell indices
/// <c>(l * experts + e) * experts + f</c> (slot e at layer l followed by slot f at layer l + 1, all k × k slot pairs)
/// with int64 counts; <see cref="SampleIds"/> holds whole routings of a few sampled tokens, int16
/// <c>[tokens, layers, topK]</c>.
/// </summary>
[GenerateSerializer, Immutable, Alias("moecloud.telemetry-delta")]
public sealed record TelemetryDelta(
    [property: Id(0)] string Model,
    [property: Id(1)] string Silo,
    [property: Id(2)] int Layers,
    [property: Id(3)] int Experts,
    [property: Id(4)] int TopK,
    [property: Id(5)] long Tokens,
    [property: Id(6)] byte[] Load,
    [property: Id(7)] byte[] TransitionCells,
    [property: Id(8)] byte[] TransitionCounts,
    [property: Id(9)] byte[] SampleIds,
    [property: Id(10)] long LocalDispatches,
    [property: Id(11)] long RemoteDispatches);

/// <summary>
/// The live profile of one model: routing counts and a token sample over a window of recent traffic (the most recent
/// <see cref="WindowTokens"/> token-steps, at least the silo option <c>TelemetryWindowTokens</c> once that much traffic
/// came), beside lifetime token and dispatch totals (since the aggregate started, was reset or saw a new model shape).
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="TopK">Slots per token and layer.</param>
/// <param name="Tokens">Lifetime token-steps observed (a token counted once per request step).</param>
/// <param name="Load">Windowed int64 <c>[layers, experts]</c> dispatch counts, little-endian bytes.</param>
/// <param name="Transitions">Windowed int64 <c>[layers - 1, experts, experts]</c> transition counts, little-endian bytes.</param>
/// <param name="SampleIds">int16 <c>[tokens, layers, topK]</c> routings sampled evenly from the window's tokens (bounded).</param>
/// <param name="LocalDispatches">Lifetime dispatches served on the token's home pod.</param>
/// <param name="RemoteDispatches">Lifetime dispatches served by another pod.</param>
/// <param name="Deltas">Lifetime deltas merged.</param>
/// <param name="WindowTokens">Token-steps that <paramref name="Load"/>, <paramref name="Transitions"/> and <paramref name="SampleIds"/> cover.</param>
[GenerateSerializer, Immutable, Alias("moecloud.telemetry-totals")]
public sealed record TelemetryTotals(
    [property: Id(0)] string Model,
    [property: Id(1)] int Layers,
    [property: Id(2)] int Experts,
    [property: Id(3)] int TopK,
    [property: Id(4)] long Tokens,
    [property: Id(5)] byte[] Load,
    [property: Id(6)] byte[] Transitions,
    [property: Id(7)] byte[] SampleIds,
    [property: Id(8)] long LocalDispatches,
    [property: Id(9)] long RemoteDispatches,
    [property: Id(10)] long Deltas,
    [property: Id(11)] long WindowTokens);

/// <summary>
/// The windowed dispatch counts of one model alone (what dashboards read every few seconds; the transitions of
/// <see cref="TelemetryTotals"/> are ~30 MB at 58 × 256 experts, these counts 119 KB).
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="TopK">Slots per token and layer.</param>
/// <param name="WindowTokens">Token-steps that <paramref name="Load"/> covers.</param>
/// <param name="Load">Windowed int64 <c>[layers, experts]</c> dispatch counts, little-endian bytes.</param>
[GenerateSerializer, Immutable, Alias("moecloud.telemetry-load")]
public sealed record TelemetryLoad(
    [property: Id(0)] string Model,
    [property: Id(1)] int Layers,
    [property: Id(2)] int Experts,
    [property: Id(3)] int TopK,
    [property: Id(4)] long WindowTokens,
    [property: Id(5)] byte[] Load);

/// <summary>
/// The cluster-wide telemetry aggregate of one model (key: model name). Fed by silos over an Orleans stream; counts and
/// sample cover a window of recent tokens; memory is bounded by the model's shape (dense counts per part of the window)
/// plus a capped token sample.
/// </summary>
[Alias("moecloud.telemetry")]
public interface ITelemetryGrain : IGrainWithStringKey
{
    /// <summary>The windowed profile and lifetime totals so far; null before the first delta.</summary>
    [Alias("totals")]
    Task<TelemetryTotals?> GetTotals();

    /// <summary>The windowed dispatch counts alone; null before the first delta.</summary>
    [Alias("load")]
    Task<TelemetryLoad?> GetLoad();

    /// <summary>Clears the totals (for example after a re-placement consumed them).</summary>
    [Alias("reset")]
    Task Reset();
}
