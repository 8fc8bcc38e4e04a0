using System.Buffers;
using System.Runtime.InteropServices;
using Orleans.Serialization;
using Orleans.Serialization.Buffers;
using Orleans.Serialization.Cloning;
using Orleans.Serialization.Codecs;
using Orleans.Serialization.WireProtocol;

namespace MoeCloud.Abstractions;

/// <summary>
/// Orleans' codec for <see cref="PooledRows"/>, the layer message's rows and its reply: one length-prefixed field of
/// two int32s (tokens, hidden) and the fp32 values, little-endian. Writing copies the values straight from the
/// sender's pooled array into Orleans' output and then returns that array (sending hands the rows over); reading
/// copies them from Orleans' input into an array rented from this silo's <see cref="RowPool"/>, which the receiver
/// returns once its kernel has consumed them. No array is allocated per message.
/// </summary>
[RegisterSerializer]
public sealed class PooledRowsCodec(IServiceProvider services) : IFieldCodec<PooledRows?>
{
    private const int ShapeBytes = 2 * sizeof(int);

    private readonly RowPool _pool = services.GetService(typeof(RowPool)) as RowPool ?? RowPool.Shared;

    /// <inheritdoc />
    public void WriteField<TBufferWriter>(ref Writer<TBufferWriter> writer, uint fieldIdDelta, Type? expectedType, PooledRows? value)
        where TBufferWriter : IBufferWriter<byte>
    {
        if (ReferenceCodec.TryWriteReferenceField(ref writer, fieldIdDelta, expectedType, value))
        {
            return; // null, or the same instance again in this message
        }

        ArgumentNullException.ThrowIfNull(value);

        var bytes = MemoryMarshal.AsBytes(value.Values);
        writer.WriteFieldHeader(fieldIdDelta, expectedType, typeof(PooledRows), WireType.LengthPrefixed);
        writer.WriteVarUInt32((uint)(ShapeBytes + bytes.Length));
        writer.WriteInt32(value.Tokens);
        writer.WriteInt32(value.Hidden);
        writer.Write(bytes);
        value.Dispose(); // sent: the sender gave the rows up, and the receiver gets its own
    }

    /// <inheritdoc />
    public PooledRows? ReadValue<TInput>(ref Reader<TInput> reader, Field field)
    {
        if (field.WireType == WireType.Reference)
        {
            return ReferenceCodec.ReadReference<PooledRows, TInput>(ref reader, field);
        }

        field.EnsureWireType(WireType.LengthPrefixed);
        var length = reader.ReadVarUInt32();
        var tokens = reader.ReadInt32();
        var hidden = reader.ReadInt32();
        if (tokens < 0 || hidden <= 0 || (long)tokens * hidden > RowPool.MaxValues || length != ShapeBytes + ((ulong)tokens * (ulong)hidden * sizeof(float)))
        {
            throw new InvalidDataException($"Pooled rows of shape [{tokens}, {hidden}] arrived in a {length}-byte field; the shape needs {ShapeBytes} + tokens × hidden × 4 bytes, hidden > 0, at most {RowPool.MaxValues} values.");
        }

        var rows = _pool.Rent(tokens, hidden);
        try
        {
            reader.ReadBytes(MemoryMarshal.AsBytes(rows.Values));
        }
        catch
        {
            rows.Dispose();
            throw;
        }

        ReferenceCodec.RecordObject(reader.Session, rows);
        return rows;
    }
}

/// <summary>
/// Orleans' copier for <see cref="PooledRows"/> (a call that stays in the silo): it passes the same instance, because
/// sending hands the rows over: the receiver owns them, and the sender does not touch them again.
/// </summary>
[RegisterCopier]
public sealed class PooledRowsCopier : IDeepCopier<PooledRows?>
{
    /// <inheritdoc />
    public PooledRows? DeepCopy(PooledRows? input, CopyContext context) => input;
}
