using System.Buffers;
using System.Runtime.InteropServices;

namespace MoeCloud.Contracts.Tensors;

/// <summary>
/// An array of fp32 values or int32 ids as <see cref="Memory{T}"/> of its bytes, without a copy, so that a protobuf
/// <see cref="Google.Protobuf.ByteString"/> can wrap it (<see cref="Google.Protobuf.UnsafeByteOperations.UnsafeWrap"/>).
/// </summary>
/// <typeparam name="T">The element type.</typeparam>
/// <param name="values">The array; whoever wraps it must not change it while the wrapper is in use.</param>
public sealed class ArrayBytes<T>(T[] values) : MemoryManager<byte>
    where T : unmanaged
{
    /// <inheritdoc />
    public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(values.AsSpan());

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException("ArrayBytes is not pinned; use its span.");

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
    }
}
