using System.Buffers;
using MoeCloud.Model.Kernels;

namespace MoeCloud.Model.Forward;

/// <summary>
/// The single-process MoE forward of DESIGN.md §2, the correctness oracle of the distributed runtime.
/// <see cref="ForwardLayer(int, ReadOnlySpan{float}, int, RoutingAssignment?)"/> is one MoE block <c>MoE_l(x)</c>
/// (gate or forced routing → routed experts combined with their weights, plus the shared MLP);
/// <see cref="ForwardStack"/> runs <c>h ← h + MoE_l(RMSNorm_l(h))</c> over MoE layers <c>a..b</c>. Layers are MoE-layer
/// indices. Deterministic: experts run in ascending id order and each token's outputs are added in that order.
/// Thread-safe when its kernel is.
/// </summary>
public sealed class ReferenceForward(InMemoryModel model, IExpertKernel kernel)
{
    private readonly InMemoryModel _model = model ?? throw new ArgumentNullException(nameof(model));
    private readonly IExpertKernel _kernel = kernel ?? throw new ArgumentNullException(nameof(kernel));

    /// <summary>The model.</summary>
    public InMemoryModel Model => _model;

    /// <summary>The gate's routing of <paramref name="x"/> <c>[tokens, hidden]</c> at MoE layer <paramref name="moeLayer"/>.</summary>
    public RoutingAssignment Route(int moeLayer, ReadOnlySpan<float> x, int tokens)
    {
        var layer = Layer(moeLayer);
        CheckInput(x, tokens);
        var k = _model.Spec.TopK;
        var ids = new int[tokens * k];
        var weights = new float[tokens * k];
        layer.Router.Route(x, tokens, ids, weights);
        return new RoutingAssignment(tokens, k, ids, weights);
    }

    /// <summary><c>MoE_l(x)</c> for <paramref name="x"/> <c>[tokens, hidden]</c>; <paramref name="forced"/> replaces the gate.</summary>
    public float[] ForwardLayer(int moeLayer, ReadOnlySpan<float> x, int tokens, RoutingAssignment? forced = null) =>
        ForwardLayer(moeLayer, x, tokens, forced, out _);

    /// <summary><c>MoE_l(x)</c>, also returning the routing used.</summary>
    public float[] ForwardLayer(int moeLayer, ReadOnlySpan<float> x, int tokens, RoutingAssignment? forced, out RoutingAssignment routing)
    {
        var layer = Layer(moeLayer);
        CheckInput(x, tokens);
        var spec = _model.Spec;
        int h = spec.Hidden, k = spec.TopK;
        forced?.Check(tokens, k, spec.Experts);
        routing = forced ?? Route(moeLayer, x, tokens);
        var y = new float[tokens * h];

        // 1. Dispatches grouped by expert, tokens in order.
        var counts = new int[spec.Experts + 1];
        foreach (var e in routing.ExpertIds)
        {
            counts[e + 1]++;
        }

        for (var e = 0; e < spec.Experts; e++)
        {
            counts[e + 1] += counts[e];
        }

        var order = new int[routing.ExpertIds.Length];
        var next = counts.ToArray();
        for (var d = 0; d < routing.ExpertIds.Length; d++)
        {
            order[next[routing.ExpertIds[d]]++] = d;
        }

        var maxBatch = Enumerable.Range(0, spec.Experts).Select(e => counts[e + 1] - counts[e]).DefaultIfEmpty(0).Max();
        var xe = ArrayPool<float>.Shared.Rent(Math.Max(maxBatch, tokens) * h);
        var ye = ArrayPool<float>.Shared.Rent(Math.Max(maxBatch, tokens) * h);
        try
        {
            // 2. Each expert: gather its tokens, run the kernel, scatter with the combine weights.
            for (var e = 0; e < spec.Experts; e++)
            {
                var n = counts[e + 1] - counts[e];
                if (n == 0)
                {
                    continue;
                }

                for (var i = 0; i < n; i++)
                {
                    x.Slice(order[counts[e] + i] / k * h, h).CopyTo(xe.AsSpan(i * h, h));
                }

                _kernel.Forward(layer.Experts[e], xe, ye, n);
                for (var i = 0; i < n; i++)
                {
                    var d = order[counts[e] + i];
                    VectorMath.MultiplyAdd(ye.AsSpan(i * h, h), routing.Weights[d], y.AsSpan(d / k * h, h));
                }
            }

            // 3. The shared MLP on every token (scaled by its sigmoid gate in Qwen2-MoE).
            if (layer.Shared is { } shared)
            {
                _kernel.Forward(shared, x, ye, tokens);
                for (var t = 0; t < tokens; t++)
                {
                    var scale = layer.SharedGate is { } g ? 1f / (1f + MathF.Exp(-VectorMath.Dot(g, x.Slice(t * h, h)))) : 1f;
                    VectorMath.MultiplyAdd(ye.AsSpan(t * h, h), scale, y.AsSpan(t * h, h));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ye);
            ArrayPool<float>.Shared.Return(xe);
        }

        return y;
    }

    /// <summary>
    /// Runs <c>h ← h + MoE_l(RMSNorm_l(h))</c> for MoE layers <paramref name="firstLayer"/>..<paramref name="lastLayer"/>
    /// (inclusive); <paramref name="forced"/>, when given, holds one routing per layer of the range;
    /// <paramref name="onRouting"/>, when given, receives each layer's routing (MoE-layer index, routing).
    /// </summary>
    public float[] ForwardStack(int firstLayer, int lastLayer, ReadOnlySpan<float> hidden, int tokens, IReadOnlyList<RoutingAssignment>? forced = null, Action<int, RoutingAssignment>? onRouting = null)
    {
        Layer(firstLayer);
        Layer(lastLayer);
        if (lastLayer < firstLayer)
        {
            throw new ArgumentException($"The last layer ({lastLayer}) comes before the first ({firstLayer}).", nameof(lastLayer));
        }

        if (forced is not null && forced.Count != lastLayer - firstLayer + 1)
        {
            throw new ArgumentException($"Forced routing holds {forced.Count} layers; layers {firstLayer}..{lastLayer} need {lastLayer - firstLayer + 1}.", nameof(forced));
        }

        CheckInput(hidden, tokens);
        var h = hidden[..(tokens * _model.Spec.Hidden)].ToArray();
        var normed = new float[h.Length];
        for (var l = firstLayer; l <= lastLayer; l++)
        {
            RmsNorm.Apply(h, _model.Layers[l].Norm, _model.Spec.RmsNormEps, normed, tokens);
            var m = ForwardLayer(l, normed, tokens, forced?[l - firstLayer], out var routing);
            onRouting?.Invoke(l, routing);
            VectorMath.MultiplyAdd(m, 1f, h);
        }

        return h;
    }

    private MoeLayerWeights Layer(int moeLayer) =>
        (uint)moeLayer < (uint)_model.Layers.Count ? _model.Layers[moeLayer] : throw new ArgumentOutOfRangeException(nameof(moeLayer), moeLayer, $"MoE layer must be in [0, {_model.Layers.Count}).");

    private void CheckInput(ReadOnlySpan<float> x, int tokens)
    {
        var h = _model.Spec.Hidden;
        if (tokens < 1 || x.Length < (long)tokens * h)
        {
            throw new ArgumentException($"Hidden states must be [tokens, {h}] with tokens ≥ 1; got {x.Length} values for {tokens} tokens.", nameof(x));
        }

        var bad = Weights.BFloat16.IndexOfNonFinite(x[..(tokens * h)]);
        if (bad >= 0)
        {
            throw new ArgumentException($"Hidden state of token {bad / h} holds a NaN or infinity at element {bad % h}.", nameof(x));
        }
    }
}
