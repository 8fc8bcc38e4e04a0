namespace MoeCloud.Operator.Placement;

/// <summary>Dispatches per expert (<c>Load[layer][expert]</c>), from a profile ConfigMap or the cluster's live telemetry.</summary>
public sealed class LoadProfile
{
    public LoadProfile(double[][] load)
    {
        ArgumentNullException.ThrowIfNull(load);
        if (load.Length == 0 || load.Any(l => l is null || l.Length != load[0].Length || l.Length == 0))
        {
            throw new ArgumentException("a load profile needs at least one layer, and every layer the same non-zero number of experts", nameof(load));
        }

        if (load.SelectMany(l => l).Any(x => !double.IsFinite(x) || x < 0))
        {
            throw new ArgumentException("expert loads must be finite and non-negative", nameof(load));
        }

        Load = load;
    }

    public double[][] Load { get; }

    public int Layers => Load.Length;

    public int Experts => Load[0].Length;

    public static LoadProfile Uniform(int layers, int experts) =>
        new(Enumerable.Range(0, layers).Select(_ => Enumerable.Repeat(1.0, experts).ToArray()).ToArray());

    /// <summary>Throws <see cref="ArgumentException"/> unless the profile matches the model's shape.</summary>
    public void EnsureShape(int layers, int experts)
    {
        if (Layers != layers || Experts != experts)
        {
            throw new ArgumentException($"the load profile is {Layers} layers x {Experts} experts but the model has {layers} x {experts}");
        }
    }
}
