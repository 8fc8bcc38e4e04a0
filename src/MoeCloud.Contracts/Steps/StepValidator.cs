using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Contracts.Steps;

/// <summary>
/// Checks a <see cref="StepRequest"/> against the model before anything runs: shapes, layer range, NaN and infinity,
/// forced routing, and the first layer's routing when the gateway carried its gate. The gateway and the runner apply the
/// same checks.
/// </summary>
/// <remarks>
/// Trust boundary: the runner's endpoint is reachable from anything that can reach a pod (the gateway, a client that
/// homes its own tokens, <c>moectl bench datapath</c>), and that hop carries no authentication, so the runner trusts
/// nothing the gateway checked: it runs every check here again, the finite-value scan included (one vectorised pass
/// over <c>[tokens, hidden]</c>, well under the gate it saves). What the runner does not redo is the gateway's
/// <em>work</em>: a carried gate is a routing decision, no more powerful than the forced routing any caller may send,
/// and checked as strictly (length, expert range, finite weights) in O(tokens × topK).
/// </remarks>
public static class StepValidator
{
    /// <summary>Most tokens one request step may hold.</summary>
    public const int MaxTokens = 65536;

    /// <summary>Throws <see cref="StepException"/> naming the first problem.</summary>
    public static void Check(StepRequest request, ModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(spec);
        if (request.Tokens < 1)
        {
            throw Invalid($"The batch must hold at least one token, got {request.Tokens}.");
        }

        if (request.Tokens > MaxTokens)
        {
            throw new StepException(StepError.ResourceExhausted, $"The batch holds {request.Tokens} tokens; at most {MaxTokens} per step.");
        }

        if (request.FirstLayer < 0 || request.LastLayer >= spec.MoeLayers || request.LastLayer < request.FirstLayer)
        {
            throw Invalid($"Layer range {request.FirstLayer}..{request.LastLayer} is not within the model's MoE layers 0..{spec.MoeLayers - 1}.");
        }

        if (!request.ApplyNorm && request.FirstLayer != request.LastLayer)
        {
            throw Invalid("The layer API runs exactly one layer.");
        }

        var values = (long)request.Tokens * spec.Hidden;
        if (request.Hidden is null || request.Hidden.LongLength != values)
        {
            throw Invalid($"Hidden states must be [tokens, hidden] = [{request.Tokens}, {spec.Hidden}] = {values} values, got {request.Hidden?.LongLength ?? 0}.");
        }

        var bad = BFloat16.IndexOfNonFinite(request.Hidden);
        if (bad >= 0)
        {
            throw Invalid($"Hidden state of token {bad / spec.Hidden} holds a NaN or infinity at element {bad % spec.Hidden}.");
        }

        CheckGate(request, spec);
        if (request.ForcedIds is null && request.ForcedWeights is null)
        {
            return;
        }

        var layers = request.LastLayer - request.FirstLayer + 1;
        var cells = (long)request.Tokens * layers * spec.TopK;
        if (request.ForcedTopK != spec.TopK)
        {
            throw Invalid($"Forced routing has top-{request.ForcedTopK}; the model routes top-{spec.TopK}.");
        }

        if (request.ForcedIds is null || request.ForcedWeights is null || request.ForcedIds.LongLength != cells || request.ForcedWeights.LongLength != cells)
        {
            throw Invalid($"Forced routing must hold [tokens, layers, topK] = [{request.Tokens}, {layers}, {spec.TopK}] = {cells} ids and as many weights.");
        }

        for (var i = 0; i < request.ForcedIds.Length; i++)
        {
            if ((uint)request.ForcedIds[i] >= (uint)spec.Experts)
            {
                throw Invalid($"Forced routing names expert {request.ForcedIds[i]} (token {i / (layers * spec.TopK)}); the model has experts 0..{spec.Experts - 1}.");
            }

            if (!float.IsFinite(request.ForcedWeights[i]))
            {
                throw Invalid($"Forced routing weight {request.ForcedWeights[i]} (token {i / (layers * spec.TopK)}) is not a finite number.");
            }
        }
    }

    private static void CheckGate(StepRequest request, ModelSpec spec)
    {
        if (request.GateIds is null && request.GateWeights is null)
        {
            return;
        }

        if (request.ForcedIds is not null || request.ForcedWeights is not null)
        {
            throw Invalid("A step carries either forced routing or the gateway's gate for its first layer, not both.");
        }

        var cells = (long)request.Tokens * spec.TopK;
        if (request.GateIds is null || request.GateWeights is null || request.GateIds.LongLength != cells || request.GateWeights.LongLength != cells)
        {
            throw Invalid($"The carried gate of layer {request.FirstLayer} must hold [tokens, topK] = [{request.Tokens}, {spec.TopK}] = {cells} ids and as many weights, got {request.GateIds?.LongLength ?? 0} ids and {request.GateWeights?.LongLength ?? 0} weights.");
        }

        for (var i = 0; i < request.GateIds.Length; i++)
        {
            if ((uint)request.GateIds[i] >= (uint)spec.Experts)
            {
                throw Invalid($"The carried gate of layer {request.FirstLayer} names expert {request.GateIds[i]} (token {i / spec.TopK}); the model has experts 0..{spec.Experts - 1}.");
            }

            if (!float.IsFinite(request.GateWeights[i]))
            {
                throw Invalid($"The carried gate of layer {request.FirstLayer} has weight {request.GateWeights[i]} (token {i / spec.TopK}), not a finite number.");
            }
        }
    }

    private static StepException Invalid(string message) => new(StepError.InvalidArgument, message);
}
