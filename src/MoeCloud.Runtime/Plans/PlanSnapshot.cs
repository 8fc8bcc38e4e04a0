using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Runtime.Plans;

/// <summary>
/// An immutable, validated plan for fast lookups on the hot path: the pods of every (layer, expert), and whether a pod
/// holds a replica. Built once per plan version and swapped atomically.
/// </summary>
public sealed class PlanSnapshot : IReplicaLookup
{
    private readonly int[] _offsets;
    private readonly int[] _pods;
    private readonly ulong[] _holds; // bit (l * E + e) * Pods + p

    private PlanSnapshot(PlanDocument document)
    {
        Document = document;
        _offsets = document.Offsets;
        _pods = document.PodIds;
        _holds = new ulong[((long)document.Layers * document.Experts * document.Pods + 63) / 64];
        for (var cell = 0; cell < document.Layers * document.Experts; cell++)
        {
            for (var i = _offsets[cell]; i < _offsets[cell + 1]; i++)
            {
                var bit = ((long)cell * document.Pods) + _pods[i];
                _holds[bit >> 6] |= 1UL << (int)(bit & 63);
            }
        }
    }

    /// <summary>The wire form.</summary>
    public PlanDocument Document { get; }

    /// <summary>Model name.</summary>
    public string Model => Document.Model;

    /// <summary>Plan version.</summary>
    public int Version => Document.Version;

    /// <summary>MoE layers.</summary>
    public int Layers => Document.Layers;

    /// <summary>Experts per layer.</summary>
    public int Experts => Document.Experts;

    /// <summary>Pods.</summary>
    public int Pods => Document.Pods;

    /// <inheritdoc />
    int IReplicaLookup.PodCount => Pods;

    /// <summary>Validates <paramref name="document"/> and builds the snapshot; throws <see cref="ArgumentException"/> listing the problem.</summary>
    public static PlanSnapshot From(PlanDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var cells = (long)document.Layers * document.Experts;
        if (string.IsNullOrWhiteSpace(document.Model) || document.Model.Contains('/', StringComparison.Ordinal) || document.Model.Contains('@', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Plan model name '{document.Model}' must be non-empty and contain no '/' or '@'.", nameof(document));
        }

        if (document.Version <= 0 || document.Layers <= 0 || document.Experts <= 0 || document.Pods <= 0 || document.Pods > 4096)
        {
            throw new ArgumentException($"Plan needs a positive version, layers, experts and pods (≤ 4096); got version {document.Version}, {document.Layers} layers, {document.Experts} experts, {document.Pods} pods.", nameof(document));
        }

        if (document.Offsets is null || document.Offsets.LongLength != cells + 1 || document.Offsets[0] != 0 || document.PodIds is null || document.Offsets[^1] != document.PodIds.Length)
        {
            throw new ArgumentException($"Plan offsets must have layers × experts + 1 = {cells + 1} entries from 0 to the number of replicas.", nameof(document));
        }

        for (var cell = 0; cell < cells; cell++)
        {
            int start = document.Offsets[cell], end = document.Offsets[cell + 1];
            if (end <= start)
            {
                throw new ArgumentException($"Expert {cell % document.Experts} of layer {cell / document.Experts} has no replica.", nameof(document));
            }

            for (var i = start; i < end; i++)
            {
                var pod = document.PodIds[i];
                if ((uint)pod >= (uint)document.Pods)
                {
                    throw new ArgumentException($"Expert {cell % document.Experts} of layer {cell / document.Experts} names pod {pod}, outside [0, {document.Pods}).", nameof(document));
                }

                for (var j = start; j < i; j++)
                {
                    if (document.PodIds[j] == pod)
                    {
                        throw new ArgumentException($"Expert {cell % document.Experts} of layer {cell / document.Experts} has two replicas on pod {pod}.", nameof(document));
                    }
                }
            }
        }

        return new PlanSnapshot(document);
    }

    /// <summary>Builds the wire form from per-(layer, expert) pod lists.</summary>
    public static PlanDocument ToDocument(string model, int version, int pods, int layers, int experts, Func<int, int, IEnumerable<int>> podsOf)
    {
        ArgumentNullException.ThrowIfNull(podsOf);
        var offsets = new int[(layers * experts) + 1];
        var ids = new List<int>();
        for (var l = 0; l < layers; l++)
        {
            for (var e = 0; e < experts; e++)
            {
                ids.AddRange(podsOf(l, e));
                offsets[(l * experts) + e + 1] = ids.Count;
            }
        }

        return new PlanDocument(model, version, layers, experts, pods, offsets, [.. ids]);
    }

    /// <summary>The pods holding a replica of (layer, expert).</summary>
    public ReadOnlySpan<int> PodsOf(int layer, int expert)
    {
        var cell = (layer * Experts) + expert;
        return _pods.AsSpan(_offsets[cell], _offsets[cell + 1] - _offsets[cell]);
    }

    /// <summary>Whether <paramref name="pod"/> holds a replica of (layer, expert).</summary>
    public bool Holds(int pod, int layer, int expert)
    {
        if ((uint)pod >= (uint)Pods)
        {
            return false;
        }

        var bit = ((long)((layer * Experts) + expert) * Pods) + pod;
        return (_holds[bit >> 6] & (1UL << (int)(bit & 63))) != 0;
    }

    /// <summary>Every replica of the plan.</summary>
    public IEnumerable<ExpertReplicaKey> Replicas()
    {
        for (var l = 0; l < Layers; l++)
        {
            for (var e = 0; e < Experts; e++)
            {
                var start = _offsets[(l * Experts) + e];
                var end = _offsets[(l * Experts) + e + 1];
                for (var i = start; i < end; i++)
                {
                    yield return new ExpertReplicaKey(Model, l, e, _pods[i]);
                }
            }
        }
    }
}
