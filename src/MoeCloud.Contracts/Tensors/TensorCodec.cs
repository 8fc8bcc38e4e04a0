using System.Runtime.InteropServices;
using Google.Protobuf;
using MoeCloud.Contracts.Protos;

namespace MoeCloud.Contracts.Tensors;

/// <summary>Converts between the wire <see cref="Tensor"/> (fp32 little-endian bytes) and arrays.</summary>
public static class TensorCodec
{
    /// <summary>Reads a <c>[tokens, hidden]</c> tensor; throws <see cref="ArgumentException"/> on a malformed one.</summary>
    public static (float[] Values, int Tokens, int Hidden) ReadMatrix(Tensor? tensor)
    {
        if (tensor is null)
        {
            throw new ArgumentException("The request has no hidden states.");
        }

        if (tensor.Shape.Count != 2 || tensor.Shape[0] < 0 || tensor.Shape[1] <= 0)
        {
            throw new ArgumentException($"Hidden states must have shape [tokens, hidden]; got [{string.Join(", ", tensor.Shape)}].");
        }

        var expected = (long)tensor.Shape[0] * tensor.Shape[1] * sizeof(float);
        if (tensor.Data.Length != expected)
        {
            throw new ArgumentException($"Hidden states of shape [{tensor.Shape[0]}, {tensor.Shape[1]}] need {expected} bytes of fp32, got {tensor.Data.Length}.");
        }

        return (MemoryMarshal.Cast<byte, float>(tensor.Data.Span).ToArray(), tensor.Shape[0], tensor.Shape[1]);
    }

    /// <summary>Writes a <c>[tokens, hidden]</c> tensor.</summary>
    public static Tensor WriteMatrix(ReadOnlySpan<float> values, int tokens, int hidden)
    {
        var tensor = new Tensor { Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Shape.Add(tokens);
        tensor.Shape.Add(hidden);
        return tensor;
    }

    /// <summary>
    /// Writes a <c>[tokens, hidden]</c> tensor that wraps <paramref name="values"/> without copying it: the caller hands
    /// the array over and must not change it afterwards (it is read when the message is serialised).
    /// </summary>
    public static Tensor WrapMatrix(float[] values, int tokens, int hidden)
    {
        ArgumentNullException.ThrowIfNull(values);
        var tensor = new Tensor { Data = UnsafeByteOperations.UnsafeWrap(new ArrayBytes<float>(values).Memory) };
        tensor.Shape.Add(tokens);
        tensor.Shape.Add(hidden);
        return tensor;
    }

    /// <summary>Reads forced routing; null when absent. Throws <see cref="ArgumentException"/> on byte counts that are not whole values.</summary>
    public static (int[] Ids, float[] Weights, int TopK)? ReadRouting(ForcedRouting? routing)
    {
        if (routing is null)
        {
            return null;
        }

        if (routing.ExpertIds.Length % sizeof(int) != 0 || routing.Weights.Length % sizeof(float) != 0)
        {
            throw new ArgumentException("Forced routing ids must be int32 and weights fp32 (byte counts divisible by 4).");
        }

        return (MemoryMarshal.Cast<byte, int>(routing.ExpertIds.Span).ToArray(), MemoryMarshal.Cast<byte, float>(routing.Weights.Span).ToArray(), routing.TopK);
    }

    /// <summary>Writes routing (forced, or the gateway's carried gate) that wraps the arrays without copying them; the caller hands them over.</summary>
    public static ForcedRouting WrapRouting(int[] ids, float[] weights, int topK)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(weights);
        return new()
        {
            TopK = topK,
            ExpertIds = UnsafeByteOperations.UnsafeWrap(new ArrayBytes<int>(ids).Memory),
            Weights = UnsafeByteOperations.UnsafeWrap(new ArrayBytes<float>(weights).Memory),
        };
    }

    /// <summary>Writes forced routing.</summary>
    public static ForcedRouting WriteRouting(ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int topK) => new()
    {
        TopK = topK,
        ExpertIds = ByteString.CopyFrom(MemoryMarshal.AsBytes(ids)),
        Weights = ByteString.CopyFrom(MemoryMarshal.AsBytes(weights)),
    };
}
