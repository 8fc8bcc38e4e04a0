using System.Text.Json.Serialization;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The DESIGN.md §2 metrics, computed only here (the runtime is checked against this implementation).
/// </summary>
/// <param name="RemoteFraction">Remote dispatches / all dispatches. A dispatch (token, layer, slot) is local when its
/// expert has a replica on the token's current home pod; a re-home adds one dispatch, counted remote.</param>
/// <param name="ExpertLoadImbalance">Mean over layers with dispatches of (max over pods of dispatches served) / (mean over
/// pods). A local dispatch is served on the home pod; a remote one by the replica that has served fewest dispatches of
/// that layer so far (ties broken by a hash of token, layer and slot).</param>
/// <param name="HomeLoadImbalance">(Max over pods of tokens whose first home is the pod) / (mean over pods).</param>
/// <param name="PredictionHitRate">Fraction of tokens whose chosen (first) home is their best home in hindsight: the pod on
/// which most of the token's dispatches over all layers would be local (a dispatch counts for every pod holding a
/// replica of its expert), ties broken by the lowest pod id.</param>
/// <param name="ReplicasPerPodMax">Most expert replicas on one pod (memory = this × bytes per expert).</param>
/// <param name="Dispatches">All dispatches, re-homes included.</param>
/// <param name="RemoteDispatches">Remote dispatches, re-homes included.</param>
/// <param name="Rehomes">Re-homes.</param>
/// <param name="Tokens">Tokens replayed.</param>
/// <param name="Time">The time model's prediction on a link (<see cref="TimeModel"/>), when one was asked for; left out of
/// JSON when null, so files without it read as before.</param>
/// <param name="ExpertPrecision">Top-k expert prediction precision of the transition model, when one was given: over every
/// token and layer l ≥ 1, the share of the k experts predicted from the token's actual experts at l − 1 (and l − 2,
/// see <see cref="SpeculativeOptions.TwoLayer"/>) that are among its actual top-k at l. Left out of JSON when null.</param>
public sealed record SimulationMetrics(
    double RemoteFraction,
    double ExpertLoadImbalance,
    double HomeLoadImbalance,
    double PredictionHitRate,
    int ReplicasPerPodMax,
    long Dispatches,
    long RemoteDispatches,
    long Rehomes,
    int Tokens,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TimePrediction? Time = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? ExpertPrecision = null);
