using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MoeCloud.Model.Traces;

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files: format versions 1.0, 2.0 and 3.0, little-endian, C order,
/// dtypes int16, int32, int64, float16 and float32. Anything else fails with a <see cref="TraceFormatException"/>
/// that names the file and the problem.
/// </summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Reads the whole array at <paramref name="path"/>.</summary>
    public static NpyArray Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TraceFormatException(path, $"cannot be read ({e.Message})", e);
        }

        return Parse(path, bytes);
    }

    /// <summary>Parses the bytes of an <c>.npy</c> file; <paramref name="path"/> is used in error messages only.</summary>
    public static NpyArray Parse(string path, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 10 || !bytes[..6].SequenceEqual(Magic))
        {
            throw new TraceFormatException(path, "not a NumPy .npy file (wrong magic bytes)");
        }

        int major = bytes[6], minor = bytes[7];
        int headerLength, headerStart;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
                headerStart = 10;
                break;
            case 2 or 3:
                if (bytes.Length < 12)
                {
                    throw new TraceFormatException(path, "truncated header");
                }

                var wide = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
                if (wide > int.MaxValue)
                {
                    throw new TraceFormatException(path, $"header length {wide} is not plausible");
                }

                headerLength = (int)wide;
                headerStart = 12;
                break;
            default:
                throw new TraceFormatException(path, $"unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)");
        }

        if (bytes.Length < headerStart + headerLength)
        {
            throw new TraceFormatException(path, "truncated header");
        }

        var encoding = major == 3 ? Encoding.UTF8 : Encoding.Latin1;
        var header = encoding.GetString(bytes.Slice(headerStart, headerLength));
        var (dtype, fortranOrder, shape) = ParseHeader(path, header);
        if (fortranOrder)
        {
            throw new TraceFormatException(path, "Fortran-ordered arrays are not supported; save the array in C order (numpy.ascontiguousarray)");
        }

        long expected;
        try
        {
            expected = checked(NpyArray.ElementCountOf(shape) * NpyDTypes.SizeOf(dtype));
        }
        catch (OverflowException e)
        {
            throw new TraceFormatException(path, $"shape ({string.Join(", ", shape)}) is too large", e);
        }

        var dataStart = headerStart + headerLength;
        long available = bytes.Length - dataStart;
        if (available < expected)
        {
            throw new TraceFormatException(path, $"truncated data: shape ({string.Join(", ", shape)}) of {dtype} needs {expected} bytes, the file holds {available}");
        }

        if (available > expected)
        {
            throw new TraceFormatException(path, $"{available - expected} unexpected bytes after the data of shape ({string.Join(", ", shape)})");
        }

        return new NpyArray(dtype, shape, bytes.Slice(dataStart, (int)expected).ToArray());
    }

    /// <summary>
    /// Writes <paramref name="array"/> as <c>.npy</c>: version 1.0 when the header fits, 2.0 otherwise.
    /// The file is written to a temporary name first and then moved into place.
    /// </summary>
    public static void Write(string path, NpyArray array)
    {
        ArgumentNullException.ThrowIfNull(array);
        var shapeText = array.Shape.Count switch
        {
            0 => "()",
            1 => $"({array.Shape[0]},)",
            _ => "(" + string.Join(", ", array.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")",
        };
        var dict = $"{{'descr': '{NpyDTypes.Descr(array.DType)}', 'fortran_order': False, 'shape': {shapeText}, }}";

        var major = dict.Length + 1 + 10 > ushort.MaxValue ? 2 : 1;
        var prefix = major == 1 ? 10 : 12;
        var total = prefix + dict.Length + 1;
        var padded = (total + 63) / 64 * 64;
        var header = dict + new string(' ', padded - total) + "\n";

        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Magic);
            stream.WriteByte((byte)major);
            stream.WriteByte(0);
            Span<byte> length = stackalloc byte[4];
            if (major == 1)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)header.Length);
                stream.Write(length[..2]);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)header.Length);
                stream.Write(length);
            }

            stream.Write(Encoding.Latin1.GetBytes(header));
            stream.Write(array.Data);
        }

        File.Move(temp, path, overwrite: true);
    }

    private static (NpyDType DType, bool FortranOrder, int[] Shape) ParseHeader(string path, string header)
    {
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shape.Success)
        {
            throw new TraceFormatException(path, $"malformed header (needs 'descr', 'fortran_order' and 'shape'): {header.Trim()}");
        }

        var descrText = descr.Groups[1].Value;
        if (!NpyDTypes.TryParseDescr(descrText, out var dtype, out var bigEndian))
        {
            throw new TraceFormatException(path, $"unsupported dtype '{descrText}' (int16, int32, int64, float16 and float32 are supported)");
        }

        if (bigEndian)
        {
            throw new TraceFormatException(path, $"big-endian dtype '{descrText}' is not supported; save little-endian data");
        }

        var dims = new List<int>();
        foreach (var part in shape.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var d))
            {
                throw new TraceFormatException(path, $"malformed shape '({shape.Groups[1].Value})'");
            }

            dims.Add(d);
        }

        return (dtype, fortran.Groups[1].Value == "True", dims.ToArray());
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
