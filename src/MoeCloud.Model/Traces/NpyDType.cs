namespace MoeCloud.Model.Traces;

/// <summary>The NumPy element types that MoeCloud reads and writes (always little-endian).</summary>
public enum NpyDType
{
    /// <summary><c>&lt;i2</c>: signed 16-bit integer.</summary>
    Int16,

    /// <summary><c>&lt;i4</c>: signed 32-bit integer.</summary>
    Int32,

    /// <summary><c>&lt;f2</c>: IEEE half precision.</summary>
    Float16,

    /// <summary><c>&lt;f4</c>: IEEE single precision.</summary>
    Float32,

    /// <summary><c>&lt;i8</c>: signed 64-bit integer (NumPy's default integer; read for counts and expert ids).</summary>
    Int64,
}

/// <summary>Helpers for <see cref="NpyDType"/>.</summary>
public static class NpyDTypes
{
    /// <summary>Size of one element in bytes.</summary>
    public static int SizeOf(NpyDType type) => type switch
    {
        NpyDType.Int16 or NpyDType.Float16 => 2,
        NpyDType.Int32 or NpyDType.Float32 => 4,
        NpyDType.Int64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown dtype."),
    };

    /// <summary>The NumPy <c>descr</c> string, for example <c>&lt;i2</c>.</summary>
    public static string Descr(NpyDType type) => type switch
    {
        NpyDType.Int16 => "<i2",
        NpyDType.Int32 => "<i4",
        NpyDType.Float16 => "<f2",
        NpyDType.Float32 => "<f4",
        NpyDType.Int64 => "<i8",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown dtype."),
    };

    /// <summary>Parses a <c>descr</c>; returns false for anything MoeCloud does not support.</summary>
    public static bool TryParseDescr(string descr, out NpyDType type, out bool bigEndian)
    {
        bigEndian = descr.StartsWith('>');
        var body = descr.TrimStart('<', '>', '|', '=');
        switch (body)
        {
            case "i2": type = NpyDType.Int16; return true;
            case "i4": type = NpyDType.Int32; return true;
            case "f2": type = NpyDType.Float16; return true;
            case "f4": type = NpyDType.Float32; return true;
            case "i8": type = NpyDType.Int64; return true;
            default: type = default; return false;
        }
    }
}
