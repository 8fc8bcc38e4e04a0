using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Synthetic;

/// <summary>
/// The hidden structure that makes synthetic gates route like trained ones. Token embeddings are
/// <c>α·√H·m + β·√(H/D)·Σ z_d·u_d + γ·noise</c>, with a mean direction <c>m</c> and a routing subspace <c>u_1..u_D</c>
/// (orthonormal). A router row is <c>p_e/(α√H)·m + Σ sharp·c_{e,d}/(β√H)·u_d</c>, so its logit on a normalised
/// embedding is about <c>p_e + sharp·(c_e·z)/√D</c>: <c>p_e</c> (per-expert popularity, normal with std = skew) gives
/// the load skew, the codes <c>c_e</c> give token-dependent routing. Cross-layer affinity: expert <c>π_l(e)</c> of layer
/// <c>l+1</c> inherits expert <c>e</c>'s code and popularity with correlation <c>affinity</c>, and the residual stream
/// carries <c>z</c> from layer to layer, so tokens that pick <c>e</c> tend to pick <c>π_l(e)</c> next.
/// </summary>
internal sealed class RoutingStructure
{
    public const double Alpha = 0.5;
    public const double Beta = 0.6;
    public static readonly double Gamma = Math.Sqrt(1 - (Alpha * Alpha) - (Beta * Beta));

    private readonly double[][] _basis;
    private readonly double[][][] _codes;
    private readonly double[][] _popularity;
    private readonly SyntheticModelOptions _options;

    public RoutingStructure(ModelSpec spec, SyntheticModelOptions options)
    {
        _options = options;
        Hidden = spec.Hidden;
        Dimension = Math.Min(options.RoutingDimension, spec.Hidden - 1);
        var rng = SplitMix.For(options.Seed, "routing-structure");
        _basis = Orthonormal(ref rng, Dimension + 1, spec.Hidden);
        int layers = spec.MoeLayers, experts = spec.Experts;
        _codes = new double[layers][][];
        _popularity = new double[layers][];
        var keep = options.Affinity;
        var fresh = Math.Sqrt(1 - (keep * keep));
        for (var l = 0; l < layers; l++)
        {
            _codes[l] = new double[experts][];
            _popularity[l] = new double[experts];
            var successor = Permutation(ref rng, experts);
            for (var e = 0; e < experts; e++)
            {
                // Layer l's expert successor[e] continues layer l−1's expert e.
                var target = l == 0 ? e : successor[e];
                var code = new double[Dimension];
                for (var d = 0; d < Dimension; d++)
                {
                    code[d] = l == 0 ? rng.NextGaussian() : (keep * _codes[l - 1][e][d]) + (fresh * rng.NextGaussian());
                }

                _codes[l][target] = code;
                _popularity[l][target] = l == 0 ? rng.NextGaussian() * options.Skew : (keep * _popularity[l - 1][e]) + (fresh * rng.NextGaussian() * options.Skew);
            }
        }
    }

    public int Hidden { get; }

    public int Dimension { get; }

    /// <summary>Embedding row of a token: its routing coordinates come from the token's own stream.</summary>
    public void Embedding(int token, Span<float> row)
    {
        var rng = SplitMix.For(_options.Seed, $"embedding/{token}");
        var scaleM = Alpha * Math.Sqrt(Hidden);
        var scaleU = Beta * Math.Sqrt((double)Hidden / Dimension);
        var z = new double[Dimension];
        for (var d = 0; d < Dimension; d++)
        {
            z[d] = rng.NextGaussian();
        }

        for (var i = 0; i < row.Length; i++)
        {
            var v = (scaleM * _basis[0][i]) + (Gamma * rng.NextGaussian());
            for (var d = 0; d < Dimension; d++)
            {
                v += scaleU * z[d] * _basis[d + 1][i];
            }

            row[i] = (float)v;
        }
    }

    /// <summary>Router matrix <c>[experts, hidden]</c> of MoE layer <paramref name="layer"/>.</summary>
    public void Router(int layer, Span<float> weight)
    {
        var sqrtH = Math.Sqrt(Hidden);
        var experts = _codes[layer].Length;
        for (var e = 0; e < experts; e++)
        {
            var row = weight.Slice(e * Hidden, Hidden);
            var pm = _popularity[layer][e] / (Alpha * sqrtH);
            var code = _codes[layer][e];
            for (var i = 0; i < Hidden; i++)
            {
                var v = pm * _basis[0][i];
                for (var d = 0; d < Dimension; d++)
                {
                    v += _options.Sharpness * code[d] / (Beta * sqrtH) * _basis[d + 1][i];
                }

                row[i] = (float)v;
            }
        }
    }

    private static int[] Permutation(ref SplitMix rng, int n)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (var i = n - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }

        return p;
    }

    private static double[][] Orthonormal(ref SplitMix rng, int count, int dimension)
    {
        var basis = new double[count][];
        for (var k = 0; k < count; k++)
        {
            var v = new double[dimension];
            for (var i = 0; i < dimension; i++)
            {
                v[i] = rng.NextGaussian();
            }

            for (var j = 0; j < k; j++)
            {
                var dot = v.Zip(basis[j], (a, b) => a * b).Sum();
                for (var i = 0; i < dimension; i++)
                {
                    v[i] -= dot * basis[j][i];
                }
            }

            var norm = Math.Sqrt(v.Sum(a => a * a));
            basis[k] = v.Select(a => a / norm).ToArray();
        }

        return basis;
    }
}
