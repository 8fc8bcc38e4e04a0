using System.Runtime.InteropServices;

namespace MoeCloud.Abstractions;

/// <summary>
/// A batch of token hidden states on the wire: <see cref="Tokens"/> × <see cref="Hidden"/> fp32 values, row-major,
/// little-endian, carried as bytes (Orleans copies a byte array in one block; a float array goes element by element).
/// </summary>
/// <param name="Tokens">Rows.</param>
/// <param name="Hidden">Columns (the model's hidden size).</param>
/// <param name="Data">Tokens × Hidden × 4 bytes.</param>
[GenerateSerializer, Immutable, Alias("moecloud.hidden-states")]
public sealed record HiddenStates([property: Id(0)] int Tokens, [property: Id(1)] int Hidden, [property: Id(2)] byte[] Data)
{
    /// <summary>The values as floats, without copying.</summary>
    public ReadOnlySpan<float> Values => MemoryMarshal.Cast<byte, float>(Data);

    /// <summary>Copies <paramref name="values"/> into a new batch.</summary>
    public static HiddenStates From(ReadOnlySpan<float> values, int tokens, int hidden)
    {
        if (tokens < 0 || hidden <= 0 || values.Length != tokens * hidden)
        {
            throw new ArgumentException($"{values.Length} values do not form [{tokens}, {hidden}].", nameof(values));
        }

        return new HiddenStates(tokens, hidden, MemoryMarshal.AsBytes(values).ToArray());
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless the byte count matches the shape.</summary>
    public void Validate()
    {
        if (Tokens < 0 || Hidden <= 0 || Data is null || Data.LongLength != (long)Tokens * Hidden * sizeof(float))
        {
            throw new ArgumentException($"Hidden states of shape [{Tokens}, {Hidden}] need {(long)Tokens * Hidden * sizeof(float)} bytes, got {Data?.LongLength ?? 0}.");
        }
    }
}
