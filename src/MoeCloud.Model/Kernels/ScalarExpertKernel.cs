using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The SwiGLU expert FFN in plain scalar loops with double accumulation: slow and obviously right, the oracle that
/// the fast kernels and the distributed runtime are tested against.
/// </summary>
public sealed class ScalarExpertKernel : IExpertKernel
{
    /// <inheritdoc />
    public string Name => "scalar";

    /// <inheritdoc />
    public void Forward(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ExpertKernelArguments.Check(weights, x, y, tokens);
        var (gateUp, down) = weights.ToF32();
        int h = weights.Hidden, inter = weights.Intermediate;
        var act = new double[inter];
        for (var t = 0; t < tokens; t++)
        {
            var xt = x.Slice(t * h, h);
            for (var i = 0; i < inter; i++)
            {
                double g = 0, u = 0;
                for (var k = 0; k < h; k++)
                {
                    g += (double)gateUp[(i * h) + k] * xt[k];
                    u += (double)gateUp[((inter + i) * h) + k] * xt[k];
                }

                act[i] = g / (1 + Math.Exp(-g)) * u;
            }

            for (var o = 0; o < h; o++)
            {
                double s = 0;
                for (var i = 0; i < inter; i++)
                {
                    s += down[(o * inter) + i] * act[i];
                }

                y[(t * h) + o] = (float)s;
            }
        }
    }
}
