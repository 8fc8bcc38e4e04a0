using System.Buffers;
using System.Runtime.InteropServices;

namespace MoeCloud.Runtime.Serving;

/// <summary>A byte array's fp32 values as <see cref="Memory{T}"/> of floats, without a copy (the wire carries bytes).</summary>
/// <param name="bytes">The array; its length must be a multiple of 4.</param>
public sealed class FloatMemory(byte[] bytes) : MemoryManager<float>
{
    /// <inheritdoc />
    public override Span<float> GetSpan() => MemoryMarshal.Cast<byte, float>(bytes.AsSpan());

    /// <inheritdoc />
    public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException("FloatMemory is not pinned; use its span.");

    /// <inheritdoc />
    public override void Unpin()
    {
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
    }
}
