namespace MoeCloud.Contracts.Steps;

/// <summary>
/// One request step for the runner: hidden states <c>[tokens, hidden]</c> through MoE layers
/// <see cref="FirstLayer"/>..<see cref="LastLayer"/>, with optional forced routing (trace replay).
/// </summary>
/// <param name="Model">Model name.</param>
/// <param name="FirstLayer">First MoE layer (inclusive).</param>
/// <param name="LastLayer">Last MoE layer (inclusive).</param>
/// <param name="Tokens">Tokens in the batch.</param>
/// <param name="Hidden">Hidden states, row-major <c>[tokens, hidden]</c>.</param>
/// <param name="ForcedIds">Forced expert ids <c>[tokens, layers, topK]</c>, or null to use the gate.</param>
/// <param name="ForcedWeights">Forced combine weights, same shape as <paramref name="ForcedIds"/>.</param>
/// <param name="ForcedTopK">Slots per token in the forced routing.</param>
/// <param name="ApplyNorm">
/// True for the stack API (<c>h ← h + MoE_l(RMSNorm_l(h))</c>); false for the layer API, which returns <c>MoE_l(x)</c>
/// for the given (already normalised) input of a single layer.
/// </param>
/// <param name="GateIds">
/// The gateway's gate for <paramref name="FirstLayer"/>, expert ids <c>[tokens, topK]</c>, or null: the runner routes
/// that layer with it instead of computing its gate again. Exclusive with forced routing.
/// </param>
/// <param name="GateWeights">The combine weights of <paramref name="GateIds"/>, same shape.</param>
public sealed record StepRequest(
    string Model,
    int FirstLayer,
    int LastLayer,
    int Tokens,
    float[] Hidden,
    int[]? ForcedIds = null,
    float[]? ForcedWeights = null,
    int ForcedTopK = 0,
    bool ApplyNorm = true,
    int[]? GateIds = null,
    float[]? GateWeights = null);

/// <summary>The result of a step: the new hidden states and how the dispatches were served.</summary>
/// <param name="Hidden">Hidden states <c>[tokens, hidden]</c>.</param>
/// <param name="LocalDispatches">Dispatches served on this (the home) pod.</param>
/// <param name="RemoteDispatches">Dispatches served by another pod.</param>
/// <param name="PlanVersion">The plan version the step ran with.</param>
/// <param name="HomePod">This pod.</param>
/// <param name="BestHomes">Per token, the pod on which most of its dispatches would have been local (ties: lowest pod).</param>
/// <param name="ExpertIds">The routing used, <c>[tokens, layers, topK]</c>.</param>
public sealed record StepResult(float[] Hidden, long LocalDispatches, long RemoteDispatches, int PlanVersion, int HomePod, int[] BestHomes, int[] ExpertIds);
