using MoeCloud.Model.Gating;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Runtime.Serving;

/// <summary>The parts of one MoE layer every pod holds: norm, router and the shared MLP (routed experts live in grains).</summary>
/// <param name="Norm">RMSNorm weight <c>[hidden]</c>.</param>
/// <param name="Router">The gate.</param>
/// <param name="Shared">Fused shared MLP, or null.</param>
/// <param name="SharedGate">Qwen2-MoE shared-expert gate, or null.</param>
public sealed record ServedLayer(float[] Norm, Router Router, ExpertWeights? Shared, float[]? SharedGate);

/// <summary>
/// A model as one pod serves it: the checkpoint (kept open; expert grains load only their own tensors from it),
/// every layer's norm, router and shared MLP, and the expert kernel.
/// </summary>
public sealed class ServedModel : IDisposable
{
    private readonly ModelCheckpoint _checkpoint;

    private ServedModel(string name, ModelCheckpoint checkpoint, IReadOnlyList<ServedLayer> layers, IExpertKernel kernel)
    {
        Name = name;
        _checkpoint = checkpoint;
        Layers = layers;
        Kernel = kernel;
    }

    /// <summary>Model name.</summary>
    public string Name { get; }

    /// <summary>The spec.</summary>
    public ModelSpec Spec => _checkpoint.Spec;

    /// <summary>Per MoE layer: norm, router, shared MLP.</summary>
    public IReadOnlyList<ServedLayer> Layers { get; }

    /// <summary>The expert kernel.</summary>
    public IExpertKernel Kernel { get; }

    /// <summary>Opens <paramref name="directory"/> and loads every layer's norm, router and shared MLP.</summary>
    public static ServedModel Open(string name, string directory, IExpertKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var checkpoint = ModelCheckpoint.Open(directory);
        try
        {
            var spec = checkpoint.Spec;
            var layers = new ServedLayer[spec.MoeLayers];
            for (var l = 0; l < layers.Length; l++)
            {
                layers[l] = new ServedLayer(checkpoint.LoadNorm(l), new Router(spec, checkpoint.LoadGate(l)), checkpoint.LoadSharedExpert(l), checkpoint.LoadSharedExpertGate(l));
            }

            return new ServedModel(name, checkpoint, layers, kernel);
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Loads one routed expert's weights (reads only its tensors).</summary>
    public ExpertWeights LoadExpert(int layer, int expert)
    {
        if ((uint)layer >= (uint)Spec.MoeLayers || (uint)expert >= (uint)Spec.Experts)
        {
            throw new ArgumentOutOfRangeException(nameof(expert), $"Expert {expert} of layer {layer} does not exist in {Name} ({Spec.MoeLayers} layers × {Spec.Experts} experts).");
        }

        return _checkpoint.LoadExpert(layer, expert);
    }

    /// <inheritdoc />
    public void Dispose() => _checkpoint.Dispose();
}
