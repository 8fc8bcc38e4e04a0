using System.Globalization;

namespace MoeCloud.Abstractions;

/// <summary>How a silo's name names its pod: the trailing number (<c>pod-3</c>, or a StatefulSet pod such as <c>moecloud-silo-3</c>).</summary>
public static class PodNames
{
    /// <summary>The pod index of a silo name: its trailing number (<c>pod-3</c> → 3); -1 when it has none.</summary>
    public static int PodOfSiloName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return -1;
        }

        var start = name.Length;
        while (start > 0 && char.IsAsciiDigit(name[start - 1]))
        {
            start--;
        }

        return start < name.Length && int.TryParse(name.AsSpan(start), NumberStyles.None, CultureInfo.InvariantCulture, out var pod) ? pod : -1;
    }
}
