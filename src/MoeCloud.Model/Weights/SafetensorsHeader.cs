using System.Text.Json;
using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>Parsing and checking of safetensors header entries.</summary>
internal static class SafetensorsHeader
{
    public static TensorInfo ParseEntry(string path, JsonProperty entry)
    {
        var name = entry.Name;
        var v = entry.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
        {
            throw new CheckpointFormatException(path, name, "has a corrupt header entry (needs dtype, shape and two data_offsets)");
        }

        var dtypeName = dtypeElement.GetString()!;
        WeightDType? dtype = dtypeName switch
        {
            "F32" => WeightDType.F32,
            "BF16" => WeightDType.BF16,
            "F16" => WeightDType.F16,
            _ => null,
        };
        var shape = shapeElement.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0 ? n : -1).ToArray();
        var offsets = offsetsElement.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0 ? n : -1).ToArray();
        if (shape.Any(d => d < 0) || offsets.Any(o => o < 0) || offsets[1] < offsets[0])
        {
            throw new CheckpointFormatException(path, name, $"has a corrupt header entry (shape {shapeElement.GetRawText()}, data_offsets {offsetsElement.GetRawText()})");
        }

        var info = new TensorInfo(name, dtypeName, dtype, shape, offsets[0], offsets[1]);
        var size = ElementSize(dtypeName);
        if (size > 0 && info.ElementCount * size != info.ByteLength)
        {
            throw new CheckpointFormatException(path, name, $"has {info.ByteLength} data bytes, but shape {info.ShapeText} of {dtypeName} needs {info.ElementCount * size}");
        }

        return info;
    }

    public static void RequireNoOverlap(string path, IEnumerable<TensorInfo> tensors)
    {
        TensorInfo? previous = null;
        foreach (var t in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin))
        {
            if (previous is not null && t.Begin < previous.End)
            {
                throw new CheckpointFormatException(path, t.Name, $"overlaps tensor '{previous.Name}' in the data section (corrupt header)");
            }

            previous = t;
        }
    }

    private static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => 0,
    };
}
