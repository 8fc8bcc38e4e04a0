using System.Globalization;

namespace MoeCloud.Abstractions;

/// <summary>
/// Identity of one expert replica: <c>{model}/{layer}/{expert}@{pod}</c>. The pod is part of the identity, so moving a
/// replica is make-before-break by construction: the new replica is a new grain, activated and warmed on its new pod
/// while the old one still serves, and retired after the switch.
/// </summary>
/// <param name="Model">Model name (no '/' or '@').</param>
/// <param name="Layer">MoE layer index, 0-based over the MoE layers.</param>
/// <param name="Expert">Routed expert index within the layer.</param>
/// <param name="Pod">Pod (silo) index that holds this replica.</param>
public readonly record struct ExpertReplicaKey(string Model, int Layer, int Expert, int Pod)
{
    /// <summary>The grain key string.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Model}/{Layer}/{Expert}@{Pod}");

    /// <summary>Parses a grain key; false when it is not of the form <c>{model}/{layer}/{expert}@{pod}</c>.</summary>
    public static bool TryParse(string? key, out ExpertReplicaKey result)
    {
        result = default;
        if (string.IsNullOrEmpty(key))
        {
            return false;
        }

        var at = key.LastIndexOf('@');
        if (at < 0)
        {
            return false;
        }

        var parts = key[..at].Split('/');
        if (parts.Length != 3 || parts[0].Length == 0
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var layer)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var expert)
            || !int.TryParse(key.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var pod))
        {
            return false;
        }

        result = new ExpertReplicaKey(parts[0], layer, expert, pod);
        return true;
    }

    /// <summary>Parses a grain key or throws <see cref="FormatException"/>.</summary>
    public static ExpertReplicaKey Parse(string key) =>
        TryParse(key, out var result) ? result : throw new FormatException($"'{key}' is not an expert replica key ({{model}}/{{layer}}/{{expert}}@{{pod}}).");
}
