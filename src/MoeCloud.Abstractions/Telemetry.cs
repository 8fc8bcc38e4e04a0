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

/// <summary>Cluster-wide routing totals of one model (the live profile).</summary>
/// <param name="Model">Model name.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="TopK">Slots per token and layer.</param>
/// <param name="Tokens">Token-steps observed (a token counted once per request step).</param>
/// <param name="Load">int64 <c>[layers, experts]</c> dispatch counts, little-endian bytes.</param>
/// <param name="Transitions">int64 <c>[layers - 1, experts, experts]</c> transition counts, little-endian bytes.</param>
/// <param name="SampleIds">int16 <c>[tokens, layers, topK]</c> sampled routings.</param>
/// <param name="LocalDispatches">Dispatches served on the token's home pod.</param>
/// <param name="RemoteDispatches">Dispatches served by another pod.</param>
/// <param name="Deltas">Deltas merged so far.</param>
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
    [property: Id(10)] long Deltas);

/// <summary>
/// The cluster-wide telemetry aggregate of one model (key: model name). Fed by silos over an Orleans stream; memory is
/// bounded by the model's shape (dense counts) plus a capped token sample.
/// </summary>
[Alias("moecloud.telemetry")]
public interface ITelemetryGrain : IGrainWithStringKey
{
    /// <summary>The totals so far.</summary>
    [Alias("totals")]
    Task<TelemetryTotals?> GetTotals();

    /// <summary>Clears the totals (for example after a re-placement consumed them).</summary>
    [Alias("reset")]
    Task Reset();
}
