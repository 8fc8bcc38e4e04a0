using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MoeCloud.Model.Weights;

/// <summary>bfloat16 ⇄ float32 conversions (a bfloat16 is the upper half of a float32's bits).</summary>
public static class BFloat16
{
    /// <summary>Widens one bfloat16 to float32 (exact).</summary>
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds one float32 to the nearest bfloat16 (ties to even; NaN stays NaN).</summary>
    public static ushort FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Widens <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination holds {destination.Length} values, the source {source.Length}.", nameof(destination));
        }

        var i = 0;
        if (Avx512F.IsSupported)
        {
            var dst = MemoryMarshal.Cast<float, uint>(destination);
            for (; i <= source.Length - 16; i += 16)
            {
                var wide = Avx512F.ConvertToVector512UInt32(Vector256.Create<ushort>(source.Slice(i, 16)));
                Avx512F.ShiftLeftLogical(wide, 16).CopyTo(dst.Slice(i, 16));
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = ToSingle(source[i]);
        }
    }

    /// <summary>Rounds <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"Destination holds {destination.Length} values, the source {source.Length}.", nameof(destination));
        }

        for (var i = 0; i < source.Length; i++)
        {
            destination[i] = FromSingle(source[i]);
        }
    }

    /// <summary>Index of the first NaN or infinity in bfloat16 data, or −1.</summary>
    public static long IndexOfNonFinite(ReadOnlySpan<ushort> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if ((values[i] & 0x7F80) == 0x7F80)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Index of the first NaN or infinity in float32 data, or −1.</summary>
    public static long IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        var bits = MemoryMarshal.Cast<float, uint>(values);
        var exponent = Vector512.Create(0x7F800000u);
        var i = 0;
        for (; i <= bits.Length - 16; i += 16)
        {
            if (Vector512.EqualsAny(Vector512.Create(bits.Slice(i, 16)) & exponent, exponent))
            {
                break;
            }
        }

        for (; i < bits.Length; i++)
        {
            if ((bits[i] & 0x7F800000u) == 0x7F800000u)
            {
                return i;
            }
        }

        return -1;
    }
}
