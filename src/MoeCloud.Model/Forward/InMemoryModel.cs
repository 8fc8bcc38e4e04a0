using MoeCloud.Model.Gating;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;

namespace MoeCloud.Model.Forward;

/// <summary>A whole model's MoE layers in memory (the reference forward's input). Layers are MoE-layer indices.</summary>
public sealed class InMemoryModel
{
    /// <summary>Creates the model; throws <see cref="ArgumentException"/> when the layers do not fit the spec.</summary>
    public InMemoryModel(ModelSpec spec, IReadOnlyList<MoeLayerWeights> layers)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(layers);
        spec.Validate();
        if (layers.Count != spec.MoeLayers)
        {
            throw new ArgumentException($"The spec has {spec.MoeLayers} MoE layers; {layers.Count} were given.", nameof(layers));
        }

        for (var l = 0; l < layers.Count; l++)
        {
            var layer = layers[l];
            if (layer.Norm.Length != spec.Hidden || layer.Experts.Count != spec.Experts || layer.Router.Experts != spec.Experts
                || layer.Experts.Any(e => e.Hidden != spec.Hidden || e.Intermediate != spec.ExpertIntermediate)
                || (spec.SharedExperts > 0) != (layer.Shared is not null)
                || (layer.Shared is { } s && (s.Hidden != spec.Hidden || s.Intermediate != spec.SharedIntermediate))
                || spec.SharedExpertGate != (layer.SharedGate is not null) || (layer.SharedGate is { } g && g.Length != spec.Hidden))
            {
                throw new ArgumentException($"MoE layer {l} does not fit the spec (norm [{spec.Hidden}], {spec.Experts} experts of [{spec.Hidden}, {spec.ExpertIntermediate}], shared {spec.SharedIntermediate}).", nameof(layers));
            }
        }

        Spec = spec;
        Layers = layers;
    }

    /// <summary>The spec.</summary>
    public ModelSpec Spec { get; }

    /// <summary>MoE layers.</summary>
    public IReadOnlyList<MoeLayerWeights> Layers { get; }

    /// <summary>Loads every MoE layer of <paramref name="checkpoint"/> in <paramref name="dtype"/> (default: the checkpoint's, F16 as F32).</summary>
    public static InMemoryModel Load(ModelCheckpoint checkpoint, WeightDType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var spec = checkpoint.Spec;
        var layers = new MoeLayerWeights[spec.MoeLayers];
        for (var l = 0; l < layers.Length; l++)
        {
            var experts = new ExpertWeights[spec.Experts];
            for (var e = 0; e < experts.Length; e++)
            {
                experts[e] = checkpoint.LoadExpert(l, e, dtype);
            }

            layers[l] = new MoeLayerWeights(checkpoint.LoadNorm(l), new Router(spec, checkpoint.LoadGate(l)), experts, checkpoint.LoadSharedExpert(l, dtype), checkpoint.LoadSharedExpertGate(l));
        }

        return new InMemoryModel(spec, layers);
    }
}
