namespace MoeCloud.Model.Spec;

/// <summary>Element type of weights in memory or on disk.</summary>
public enum WeightDType
{
    /// <summary>IEEE float32.</summary>
    F32,

    /// <summary>bfloat16: the upper 16 bits of a float32.</summary>
    BF16,

    /// <summary>IEEE float16.</summary>
    F16,
}

/// <summary>Sizes and names of <see cref="WeightDType"/>.</summary>
public static class WeightDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this WeightDType dtype) => dtype == WeightDType.F32 ? 4 : 2;

    /// <summary>The safetensors dtype name (<c>F32</c>, <c>BF16</c>, <c>F16</c>).</summary>
    public static string SafetensorsName(this WeightDType dtype) => dtype switch
    {
        WeightDType.F32 => "F32",
        WeightDType.BF16 => "BF16",
        _ => "F16",
    };

    /// <summary>The Hugging Face <c>torch_dtype</c> name.</summary>
    public static string TorchName(this WeightDType dtype) => dtype switch
    {
        WeightDType.F32 => "float32",
        WeightDType.BF16 => "bfloat16",
        _ => "float16",
    };

    /// <summary>Parses a safetensors dtype name or a torch dtype name (case-insensitive).</summary>
    public static bool TryParse(string name, out WeightDType dtype)
    {
        switch (name.ToUpperInvariant())
        {
            case "F32" or "FLOAT32" or "FP32" or "FLOAT":
                dtype = WeightDType.F32;
                return true;
            case "BF16" or "BFLOAT16":
                dtype = WeightDType.BF16;
                return true;
            case "F16" or "FLOAT16" or "FP16" or "HALF":
                dtype = WeightDType.F16;
                return true;
            default:
                dtype = default;
                return false;
        }
    }
}
