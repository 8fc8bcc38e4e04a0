using System.Buffers.Binary;
using System.Text;
using MoeCloud.Model.Traces;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Traces;

public sealed class NpyFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void WriteThenRead_WhenEveryDType_RoundTripsValuesAndShape()
    {
        var cases = new[]
        {
            NpyArray.FromInt16([1, -2, 3, short.MaxValue, short.MinValue, 0], 2, 3),
            NpyArray.FromInt32([1, -2, int.MaxValue, int.MinValue], 4),
            NpyArray.FromFloat32([1.5f, -2.25f, float.Epsilon, 1e30f, 0f, 3f], 1, 2, 3),
            NpyArray.FromFloat16([(Half)1.5f, (Half)(-2f), Half.Epsilon], 3),
        };
        foreach (var array in cases)
        {
            var path = _dir.Combine($"{array.DType}.npy");
            NpyFile.Write(path, array);

            var read = NpyFile.Read(path);

            Assert.Equal(array.DType, read.DType);
            Assert.Equal(array.Shape, read.Shape);
            Assert.Equal(array.Data, read.Data);
            Assert.Equal(0, (new FileInfo(path).Length - array.Data.Length) % 64);
        }
    }

    [Fact]
    public void Write_WhenVersion1Header_IsPaddedTo64BytesAndReadableByNumPyRules()
    {
        var path = _dir.Combine("a.npy");
        NpyFile.Write(path, NpyArray.FromInt16([7, 8], 2));
        var bytes = File.ReadAllBytes(path);

        Assert.Equal(1, bytes[6]);
        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Equal((byte)'\n', bytes[10 + headerLength - 1]);
        Assert.Contains("'shape': (2,)", Encoding.Latin1.GetString(bytes, 10, headerLength), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenVersion2Header_ReadsIt()
    {
        var bytes = Build(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", BitConverter.GetBytes(5).Concat(BitConverter.GetBytes(-6)).ToArray());

        var array = NpyFile.Parse("v2.npy", bytes);

        Assert.Equal([5, -6], array.ToInt32());
    }

    [Fact]
    public void Parse_WhenMagicIsWrong_NamesFileAndProblem()
    {
        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("x/expert_ids.npy", "PK\x03\x04 this is a zip file"u8.ToArray()));

        Assert.Equal("x/expert_ids.npy", e.FilePath);
        Assert.Contains("wrong magic", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenDataIsTruncated_SaysHowManyBytesAreMissing()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (4, 2), }", new byte[10]);

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("t.npy", bytes));

        Assert.Contains("truncated data", e.Problem, StringComparison.Ordinal);
        Assert.Contains("needs 16 bytes, the file holds 10", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenHeaderIsTruncated_Fails()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }", []).AsSpan(0, 30).ToArray();

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("h.npy", bytes));

        Assert.Contains("truncated header", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenFortranOrder_RefusesWithAdvice()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 2), }", new byte[8]);

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("f.npy", bytes));

        Assert.Contains("Fortran", e.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<f8", "unsupported dtype")]
    [InlineData(">i2", "big-endian")]
    [InlineData("|u1", "unsupported dtype")]
    public void Parse_WhenDTypeIsUnsupported_SaysWhich(string descr, string expected)
    {
        var bytes = Build(1, $"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}", new byte[8]);

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("d.npy", bytes));

        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenBytesFollowTheData_Fails()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (1,), }", new byte[6]);

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("extra.npy", bytes));

        Assert.Contains("4 unexpected bytes", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenHeaderLacksShape_Fails()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': False}", new byte[2]);

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("m.npy", bytes));

        Assert.Contains("malformed header", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WhenVersionIsUnknown_Fails()
    {
        var bytes = Build(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (1,), }", new byte[2]);
        bytes[6] = 9;

        var e = Assert.Throws<TraceFormatException>(() => NpyFile.Parse("v.npy", bytes));

        Assert.Contains("version 9.0", e.Problem, StringComparison.Ordinal);
    }

    /// <summary>Builds an .npy file by hand, independently of <see cref="NpyFile.Write"/>.</summary>
    internal static byte[] Build(int major, string dict, byte[] data)
    {
        var prefix = major == 1 ? 10 : 12;
        var total = prefix + dict.Length + 1;
        var header = dict + new string(' ', ((total + 63) / 64 * 64) - total) + "\n";
        var result = new List<byte>();
        result.AddRange([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0]);
        if (major == 1)
        {
            result.AddRange(BitConverter.GetBytes((ushort)header.Length));
        }
        else
        {
            result.AddRange(BitConverter.GetBytes((uint)header.Length));
        }

        result.AddRange(Encoding.Latin1.GetBytes(header));
        result.AddRange(data);
        return [.. result];
    }
}
