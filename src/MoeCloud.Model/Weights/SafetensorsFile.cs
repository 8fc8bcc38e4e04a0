using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Text.Json;
using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>
/// A safetensors file, memory-mapped read-only: opening reads only the header; reading a tensor touches only that
/// tensor's bytes. Thread-safe for reads. Every problem is a <see cref="CheckpointFormatException"/> naming the file
/// (and the tensor).
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, TensorInfo> _tensors;
    private int _disposed;

    private SafetensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long dataOffset, Dictionary<string, TensorInfo> tensors)
    {
        Path = path;
        _map = map;
        _view = view;
        _base = basePointer;
        DataOffset = dataOffset;
        _tensors = tensors;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }

    /// <summary>The tensors, by name.</summary>
    public IReadOnlyDictionary<string, TensorInfo> Tensors => _tensors;

    /// <summary>Opens and validates <paramref name="path"/>'s header.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new CheckpointFormatException(path, null, "does not exist");
        }

        var length = new FileInfo(path).Length;
        if (length < 8)
        {
            throw new CheckpointFormatException(path, null, $"is truncated: {length} bytes, too short for the 8-byte header length");
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        SafetensorsFile? opened = null;
        var acquired = false;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            pointer += view.PointerOffset;
            PageCache.AdviseRandom(pointer, length);
            var headerLength = *(long*)pointer;
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > length - 8)
            {
                throw new CheckpointFormatException(path, null, $"is corrupt or truncated: header length {headerLength} does not fit a {length}-byte file");
            }

            var tensors = ParseHeader(path, new ReadOnlySpan<byte>(pointer + 8, (int)headerLength), length - 8 - headerLength);
            opened = new SafetensorsFile(path, map, view, pointer, 8 + headerLength, tensors);
            return opened;
        }
        finally
        {
            if (opened is null)
            {
                // The header was bad: release the mapping before the exception leaves.
                if (acquired)
                {
                    view?.SafeMemoryMappedViewHandle.ReleasePointer();
                }

                view?.Dispose();
                map.Dispose();
            }
        }
    }

    /// <summary>The tensor named <paramref name="name"/>; a clear error when the file lacks it.</summary>
    public TensorInfo Get(string name) =>
        _tensors.TryGetValue(name, out var info) ? info : throw new CheckpointFormatException(Path, name, "is missing from the file");

    /// <summary>Throws when <paramref name="info"/>'s shape is not <paramref name="shape"/>.</summary>
    public void RequireShape(TensorInfo info, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (!info.Shape.SequenceEqual(shape))
        {
            throw new CheckpointFormatException(Path, info.Name, $"has shape {info.ShapeText}, expected [{string.Join(", ", shape)}]");
        }
    }

    /// <summary>The tensor's raw bytes in the mapping (valid until dispose).</summary>
    public ReadOnlySpan<byte> Raw(TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (info.ByteLength > int.MaxValue)
        {
            throw new CheckpointFormatException(Path, info.Name, $"is {info.ByteLength} bytes, larger than one read can hold");
        }

        PageCache.AdviseWillNeed(_base, DataOffset + info.Begin, info.ByteLength);
        return new ReadOnlySpan<byte>(_base + DataOffset + info.Begin, (int)info.ByteLength);
    }

    /// <summary>Reads the tensor as float32 into <paramref name="destination"/> (F32, BF16 and F16 are converted).</summary>
    public void ReadFloat32(TensorInfo info, Span<float> destination)
    {
        var raw = Raw(info);
        Require(info, destination.Length);
        switch (Readable(info))
        {
            case WeightDType.F32:
                MemoryMarshal.Cast<byte, float>(raw).CopyTo(destination);
                break;
            case WeightDType.BF16:
                BFloat16.ToSingle(MemoryMarshal.Cast<byte, ushort>(raw), destination);
                break;
            default:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (var i = 0; i < halves.Length; i++)
                {
                    destination[i] = (float)halves[i];
                }

                break;
        }
    }

    /// <summary>Reads the tensor as bfloat16 into <paramref name="destination"/> (F32 and F16 are rounded).</summary>
    public void ReadBFloat16(TensorInfo info, Span<ushort> destination)
    {
        var raw = Raw(info);
        Require(info, destination.Length);
        switch (Readable(info))
        {
            case WeightDType.BF16:
                MemoryMarshal.Cast<byte, ushort>(raw).CopyTo(destination);
                break;
            case WeightDType.F32:
                BFloat16.FromSingle(MemoryMarshal.Cast<byte, float>(raw), destination);
                break;
            default:
                var halves = MemoryMarshal.Cast<byte, Half>(raw);
                for (var i = 0; i < halves.Length; i++)
                {
                    destination[i] = BFloat16.FromSingle((float)halves[i]);
                }

                break;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }

    private WeightDType Readable(TensorInfo info) =>
        info.DType ?? throw new CheckpointFormatException(Path, info.Name, $"has dtype {info.DTypeName}; MoeCloud reads F32, BF16 and F16");

    private void Require(TensorInfo info, int length)
    {
        if (length != info.ElementCount)
        {
            throw new ArgumentException($"{Path}: tensor '{info.Name}' holds {info.ElementCount} values, the destination {length}.", nameof(length));
        }
    }

    private static Dictionary<string, TensorInfo> ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header.ToArray());
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(path, null, $"is corrupt: the header is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException(path, null, "is corrupt: the header is not a JSON object");
            }

            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == "__metadata__")
                {
                    continue;
                }

                var info = SafetensorsHeader.ParseEntry(path, entry);
                if (info.End > dataLength)
                {
                    throw new CheckpointFormatException(path, info.Name, $"ends at data byte {info.End}, but the file holds only {dataLength} data bytes (truncated)");
                }

                tensors[info.Name] = info;
            }

            SafetensorsHeader.RequireNoOverlap(path, tensors.Values);
            return tensors;
        }
    }
}
