using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>Fills a tensor's values (float32, row-major) before it is written in the tensor's dtype.</summary>
public delegate void TensorFill(Span<float> values);

/// <summary>
/// Writes a safetensors file: tensors are added with their shape and a fill callback, and written one at a time in
/// the order added (so memory holds one tensor, not the file). A tensor added without a fill is all zeros and is
/// left as a hole in a sparse file.
/// </summary>
public sealed class SafetensorsWriter
{
    private readonly List<(string Name, WeightDType DType, long[] Shape, TensorFill? Fill)> _tensors = [];
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal) { ["format"] = "pt" };

    /// <summary>Tensors added so far.</summary>
    public int Count => _tensors.Count;

    /// <summary>Adds a metadata entry (the <c>__metadata__</c> map).</summary>
    public SafetensorsWriter Metadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    /// <summary>Adds a tensor; <paramref name="fill"/> null writes zeros without storing them (a sparse hole).</summary>
    public SafetensorsWriter Add(string name, WeightDType dtype, long[] shape, TensorFill? fill)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == "__metadata__" || _tensors.Any(t => t.Name == name))
        {
            throw new ArgumentException($"Tensor name '{name}' is reserved or added twice.", nameof(name));
        }

        if (shape.Any(d => d < 0) || shape.Aggregate(1L, (a, b) => a * b) * dtype.SizeOf() > int.MaxValue)
        {
            throw new ArgumentException($"Tensor '{name}' has a negative dimension or is over 2 GiB: [{string.Join(", ", shape)}].", nameof(shape));
        }

        _tensors.Add((name, dtype, shape, fill));
        return this;
    }

    /// <summary>Adds a tensor with the given values.</summary>
    public SafetensorsWriter Add(string name, WeightDType dtype, long[] shape, float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var count = shape.Aggregate(1L, (a, b) => a * b);
        if (values.Length != count)
        {
            throw new ArgumentException($"Tensor '{name}' has shape [{string.Join(", ", shape)}] ({count} values) but {values.Length} values were given.", nameof(values));
        }

        return Add(name, dtype, shape, v => values.CopyTo(v));
    }

    /// <summary>Writes the file; returns its length in bytes.</summary>
    public long Save(string path)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject(_metadata.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) };
        long offset = 0;
        foreach (var (name, dtype, shape, _) in _tensors)
        {
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * dtype.SizeOf();
            header[name] = new JsonObject
            {
                ["dtype"] = dtype.SafetensorsName(),
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[8 + padded];
        BitConverter.TryWriteBytes(headerBytes, (long)padded);
        json.CopyTo(headerBytes, 8);
        headerBytes.AsSpan(8 + json.Length).Fill((byte)' ');

        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        stream.Write(headerBytes);
        foreach (var (_, dtype, shape, fill) in _tensors)
        {
            var count = (int)shape.Aggregate(1L, (a, b) => a * b);
            if (fill is null)
            {
                stream.Seek((long)count * dtype.SizeOf(), SeekOrigin.Current);
                continue;
            }

            WriteTensor(stream, dtype, count, fill);
        }

        stream.SetLength(stream.Position);
        return stream.Length;
    }

    private static void WriteTensor(Stream stream, WeightDType dtype, int count, TensorFill fill)
    {
        var values = ArrayPool<float>.Shared.Rent(count);
        try
        {
            var span = values.AsSpan(0, count);
            span.Clear();
            fill(span);
            if (dtype == WeightDType.F32)
            {
                stream.Write(MemoryMarshal.AsBytes(span));
                return;
            }

            var halves = ArrayPool<ushort>.Shared.Rent(count);
            try
            {
                var half = halves.AsSpan(0, count);
                if (dtype == WeightDType.BF16)
                {
                    BFloat16.FromSingle(span, half);
                }
                else
                {
                    for (var i = 0; i < count; i++)
                    {
                        half[i] = BitConverter.HalfToUInt16Bits((Half)span[i]);
                    }
                }

                stream.Write(MemoryMarshal.AsBytes(half));
            }
            finally
            {
                ArrayPool<ushort>.Shared.Return(halves);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(values);
        }
    }
}
