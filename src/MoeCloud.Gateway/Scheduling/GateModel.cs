using MoeCloud.Model.Forward;
using MoeCloud.Model.Gating;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>
/// What the gateway holds of a model: the spec, and every MoE layer's RMSNorm weight and gate (small matrices,
/// <c>[experts, hidden]</c>) — never the experts. It computes a request's first-layer routing to predict its experts.
/// </summary>
public sealed class GateModel
{
    private readonly float[][] _norms;
    private readonly Router[] _routers;

    private GateModel(string name, ModelSpec spec, float[][] norms, Router[] routers)
    {
        Name = name;
        Spec = spec;
        _norms = norms;
        _routers = routers;
    }

    /// <summary>Model name.</summary>
    public string Name { get; }

    /// <summary>The spec.</summary>
    public ModelSpec Spec { get; }

    /// <summary>Loads the norms and gates from a checkpoint (reads nothing else).</summary>
    public static GateModel Load(string name, string directory)
    {
        using var checkpoint = ModelCheckpoint.Open(directory);
        var spec = checkpoint.Spec;
        var norms = new float[spec.MoeLayers][];
        var routers = new Router[spec.MoeLayers];
        for (var l = 0; l < spec.MoeLayers; l++)
        {
            norms[l] = checkpoint.LoadNorm(l);
            routers[l] = new Router(spec, checkpoint.LoadGate(l));
        }

        return new GateModel(name, spec, norms, routers);
    }

    /// <summary>
    /// The gate's top-k at <paramref name="layer"/> for hidden states <c>[tokens, hidden]</c>: int16 <c>[tokens, topK]</c>,
    /// exactly as the runner routes them. <paramref name="normalized"/> says which states they are: false for the
    /// residual stream entering the layer (the stack API: the gate sees <c>RMSNorm_l(h)</c>), true for the layer's
    /// already-normalised input (the layer API: the gate sees it as given).
    /// </summary>
    public short[] Route(int layer, ReadOnlySpan<float> hidden, int tokens, bool normalized) =>
        Gate(layer, hidden, tokens, normalized).Ids.Select(e => (short)e).ToArray();

    /// <summary>
    /// The gate's full decision at <paramref name="layer"/>: expert ids and combine weights <c>[tokens, topK]</c>,
    /// computed as the runner computes them (<see cref="Route"/> says which states <paramref name="normalized"/> means).
    /// The gateway carries it to the home pod, which then does not compute the gate of that layer again.
    /// </summary>
    public GateDecision Gate(int layer, ReadOnlySpan<float> hidden, int tokens, bool normalized)
    {
        var input = hidden;
        if (!normalized)
        {
            var normed = new float[tokens * Spec.Hidden];
            RmsNorm.Apply(input, _norms[layer], Spec.RmsNormEps, normed, tokens);
            input = normed;
        }

        var ids = new int[tokens * Spec.TopK];
        var weights = new float[ids.Length];
        _routers[layer].Route(input, tokens, ids, weights);
        return new GateDecision(ids, weights);
    }
}

/// <summary>A layer's routing as the gate decided it.</summary>
/// <param name="Ids">Expert ids <c>[tokens, topK]</c>.</param>
/// <param name="Weights">Combine weights, same shape.</param>
public sealed record GateDecision(int[] Ids, float[] Weights);
