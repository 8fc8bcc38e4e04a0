using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace MoeCloud.Model.Traces;

/// <summary>
/// An n-dimensional NumPy array held in memory as little-endian bytes in C order.
/// </summary>
public sealed class NpyArray
{
    /// <summary>Creates an array; <paramref name="data"/> must hold exactly the shape's elements.</summary>
    public NpyArray(NpyDType dtype, int[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        var expected = checked(ElementCountOf(shape) * NpyDTypes.SizeOf(dtype));
        if (data.LongLength != expected)
        {
            throw new ArgumentException($"Shape ({string.Join(", ", shape)}) of {dtype} needs {expected} bytes, got {data.LongLength}.", nameof(data));
        }

        DType = dtype;
        Shape = shape;
        Data = data;
    }

    /// <summary>Element type.</summary>
    public NpyDType DType { get; }

    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Raw little-endian bytes in C order.</summary>
    public byte[] Data { get; }

    /// <summary>Number of elements.</summary>
    public long ElementCount => ElementCountOf(Shape);

    /// <summary>Wraps 16-bit integers.</summary>
    public static NpyArray FromInt16(ReadOnlySpan<short> values, params int[] shape) => From(NpyDType.Int16, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Wraps 32-bit integers.</summary>
    public static NpyArray FromInt32(ReadOnlySpan<int> values, params int[] shape) => From(NpyDType.Int32, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Wraps single-precision floats.</summary>
    public static NpyArray FromFloat32(ReadOnlySpan<float> values, params int[] shape) => From(NpyDType.Float32, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Wraps half-precision floats.</summary>
    public static NpyArray FromFloat16(ReadOnlySpan<Half> values, params int[] shape) => From(NpyDType.Float16, MemoryMarshal.AsBytes(values), shape);

    /// <summary>Elements as 32-bit integers (from int16 or int32).</summary>
    public int[] ToInt32()
    {
        var result = new int[ElementCount];
        switch (DType)
        {
            case NpyDType.Int16:
                for (var i = 0; i < result.Length; i++)
                {
                    result[i] = BinaryPrimitives.ReadInt16LittleEndian(Data.AsSpan(i * 2));
                }

                break;
            case NpyDType.Int32:
                for (var i = 0; i < result.Length; i++)
                {
                    result[i] = BinaryPrimitives.ReadInt32LittleEndian(Data.AsSpan(i * 4));
                }

                break;
            default:
                throw new InvalidOperationException($"A {DType} array cannot be read as integers.");
        }

        return result;
    }

    /// <summary>Elements as 64-bit integers (from int16, int32 or int64).</summary>
    public long[] ToInt64()
    {
        if (DType != NpyDType.Int64)
        {
            return Array.ConvertAll(ToInt32(), v => (long)v);
        }

        var result = new long[ElementCount];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = BinaryPrimitives.ReadInt64LittleEndian(Data.AsSpan(i * 8));
        }

        return result;
    }

    /// <summary>Elements as 16-bit integers (int16 only, or int32 values that fit).</summary>
    public short[] ToInt16()
    {
        if (DType == NpyDType.Int16)
        {
            var values = new short[ElementCount];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadInt16LittleEndian(Data.AsSpan(i * 2));
            }

            return values;
        }

        var wide = ToInt32();
        var narrow = new short[wide.Length];
        for (var i = 0; i < wide.Length; i++)
        {
            narrow[i] = checked((short)wide[i]);
        }

        return narrow;
    }

    /// <summary>Elements as single-precision floats (from float16 or float32).</summary>
    public float[] ToFloat32()
    {
        var result = new float[ElementCount];
        switch (DType)
        {
            case NpyDType.Float32:
                for (var i = 0; i < result.Length; i++)
                {
                    result[i] = BinaryPrimitives.ReadSingleLittleEndian(Data.AsSpan(i * 4));
                }

                break;
            case NpyDType.Float16:
                for (var i = 0; i < result.Length; i++)
                {
                    result[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(Data.AsSpan(i * 2));
                }

                break;
            default:
                throw new InvalidOperationException($"A {DType} array cannot be read as floats.");
        }

        return result;
    }

    internal static long ElementCountOf(IReadOnlyList<int> shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            count = checked(count * d);
        }

        return count;
    }

    private static NpyArray From(NpyDType dtype, ReadOnlySpan<byte> bytes, int[] shape)
    {
        var data = bytes.ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("MoeCloud runs on little-endian machines only.");
        }

        return new NpyArray(dtype, shape, data);
    }
}
