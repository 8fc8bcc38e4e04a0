using MoeCloud.Model.Gating;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Forward;

/// <summary>One MoE layer in memory: RMSNorm weight, router, routed experts, and the optional shared MLP and its gate.</summary>
/// <param name="Norm">RMSNorm weight <c>[hidden]</c> applied before the layer in the stack.</param>
/// <param name="Router">The gate.</param>
/// <param name="Experts">Routed experts, by id.</param>
/// <param name="Shared">Fused shared MLP, or null.</param>
/// <param name="SharedGate">Qwen2-MoE shared-expert gate <c>[hidden]</c>, or null.</param>
public sealed record MoeLayerWeights(float[] Norm, Router Router, IReadOnlyList<ExpertWeights> Experts, ExpertWeights? Shared, float[]? SharedGate);
