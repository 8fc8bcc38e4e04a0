using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

/// <summary>One tensor of a safetensors file, as its header describes it.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DTypeName">The header's dtype string (F32, BF16, F16, I64 …).</param>
/// <param name="DType">The dtype when MoeCloud can read it (F32, BF16, F16), else null.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">Start offset in the data section.</param>
/// <param name="End">End offset (exclusive) in the data section.</param>
public sealed record TensorInfo(string Name, string DTypeName, WeightDType? DType, long[] Shape, long Begin, long End)
{
    /// <summary>Elements in the tensor.</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Bytes in the tensor.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape as text, e.g. <c>[64, 2048]</c>.</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
