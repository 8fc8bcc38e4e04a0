using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Runtime.Plans;

/// <summary>
/// The plan a silo serves one model with: the wire message it came in and the Placement library's plan, checked by the
/// library's validator, for O(1) lookups on the hot path. Built once per plan version and swapped atomically.
/// </summary>
public sealed class ServingPlan : IReplicaLookup
{
    private ServingPlan(WirePlan document, PlacementPlan plan)
    {
        Document = document;
        Plan = plan;
    }

    /// <summary>The wire form.</summary>
    public WirePlan Document { get; }

    /// <summary>The plan.</summary>
    public PlacementPlan Plan { get; }

    /// <summary>Model name.</summary>
    public string Model => Document.Model;

    /// <summary>Plan version.</summary>
    public int Version => Document.Version;

    /// <summary>MoE layers.</summary>
    public int Layers => Plan.Layers;

    /// <summary>Experts per layer.</summary>
    public int Experts => Plan.Experts;

    /// <summary>Pods.</summary>
    public int Pods => Plan.PodCount;

    /// <inheritdoc />
    int IReplicaLookup.PodCount => Pods;

    /// <summary>
    /// Checks <paramref name="document"/> (its model name and version here, the plan itself with the Placement
    /// library's validator) and builds the snapshot; throws <see cref="ArgumentException"/> naming the problems.
    /// </summary>
    public static ServingPlan From(WirePlan document)
    {
        ArgumentNullException.ThrowIfNull(document);
        if (string.IsNullOrWhiteSpace(document.Model) || document.Model.Contains('/', StringComparison.Ordinal) || document.Model.Contains('@', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Plan model name '{document.Model}' must be non-empty and contain no '/' or '@'.", nameof(document));
        }

        if (document.Version <= 0 || document.Pods is <= 0 or > 4096)
        {
            throw new ArgumentException($"Plan needs a positive version and 1 to 4096 pods; got version {document.Version} and {document.Pods} pods.", nameof(document));
        }

        return new ServingPlan(document, document.ToPlacement());
    }

    /// <summary>The pods holding a replica of (layer, expert).</summary>
    public ReadOnlySpan<int> PodsOf(int layer, int expert) => Plan.PodsOf(layer, expert);

    /// <summary>Whether <paramref name="pod"/> holds a replica of (layer, expert).</summary>
    public bool Holds(int pod, int layer, int expert) => (uint)pod < (uint)Pods && Plan.Holds(pod, layer, expert);

    /// <summary>Every replica of the plan.</summary>
    public IEnumerable<ExpertReplicaKey> Replicas()
    {
        for (var p = 0; p < Pods; p++)
        {
            foreach (var r in Plan.ReplicasOn(p))
            {
                yield return new ExpertReplicaKey(Model, r.Layer, r.Expert, p);
            }
        }
    }
}
