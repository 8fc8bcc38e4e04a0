using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// The SwiGLU expert FFN <c>y = down(silu(gate(x)) * up(x))</c> over a batch of tokens. <c>x</c> and <c>y</c> are
/// row-major <c>[tokens, hidden]</c> float32. Implementations are thread-safe: the runtime calls one instance from
/// many grains at once. A backend (CPU, an accelerator) is one implementation.
/// </summary>
public interface IExpertKernel
{
    /// <summary>A short name for benchmarks and logs.</summary>
    string Name { get; }

    /// <summary>Computes the expert's output for <paramref name="tokens"/> tokens into <paramref name="y"/> (overwritten).</summary>
    void Forward(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens);
}

/// <summary>Argument checks shared by every kernel.</summary>
public static class ExpertKernelArguments
{
    /// <summary>Throws <see cref="ArgumentException"/> when the spans do not fit <c>[tokens, hidden]</c>.</summary>
    public static void Check(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (tokens <= 0)
        {
            throw new ArgumentException($"Tokens must be positive, got {tokens}.", nameof(tokens));
        }

        var needed = (long)tokens * weights.Hidden;
        if (x.Length < needed || y.Length < needed)
        {
            throw new ArgumentException($"x and y must hold tokens × hidden = {tokens} × {weights.Hidden} = {needed} values (x has {x.Length}, y {y.Length}).");
        }
    }
}
