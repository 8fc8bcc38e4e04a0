using System.Text;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Weights;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Weights;

public sealed class SafetensorsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(WeightDType.F32)]
    [InlineData(WeightDType.BF16)]
    [InlineData(WeightDType.F16)]
    public void SaveThenOpen_RoundTripsValuesWithinTheDTypePrecision(WeightDType dtype)
    {
        var values = Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i) * 3).ToArray();
        var path = _dir.Combine("a.safetensors");
        new SafetensorsWriter().Add("w", dtype, [4, 6], values).Add("b", WeightDType.F32, [3], [1f, 2f, 3f]).Save(path);

        using var file = SafetensorsFile.Open(path);
        var info = file.Get("w");
        var read = new float[24];
        file.ReadFloat32(info, read);

        Assert.Equal([4L, 6], info.Shape);
        Assert.Equal(dtype, info.DType);
        Assert.Equal(0, file.DataOffset % 8);
        var tolerance = dtype switch { WeightDType.F32 => 0, WeightDType.BF16 => 1.0 / 128, _ => 1.0 / 1024 };
        for (var i = 0; i < values.Length; i++)
        {
            Assert.InRange(read[i], values[i] - (Math.Abs(values[i]) * tolerance) - 1e-7, values[i] + (Math.Abs(values[i]) * tolerance) + 1e-7);
        }
    }

    [Fact]
    public void ReadBFloat16_WhenStoredAsF32_RoundsToNearestEven()
    {
        var path = _dir.Combine("a.safetensors");
        new SafetensorsWriter().Add("w", WeightDType.F32, [3], [1f, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000)]).Save(path);
        using var file = SafetensorsFile.Open(path);
        var read = new ushort[3];

        file.ReadBFloat16(file.Get("w"), read);

        Assert.Equal([(ushort)0x3F80, 0x3F80, 0x3F82], read);
    }

    [Fact]
    public void Open_WhenFileIsShorterThanTheLengthPrefix_SaysTruncated()
    {
        var path = Write([1, 2, 3]);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains("is truncated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenHeaderLengthExceedsTheFile_SaysCorruptOrTruncated()
    {
        var bytes = new byte[64];
        BitConverter.TryWriteBytes(bytes, 1000L);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(Write(bytes)));

        Assert.Contains("header length 1000 does not fit a 64-byte file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenHeaderIsNotJson_SaysCorrupt()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(WithHeader("{not json", 0)));

        Assert.Contains("the header is not valid JSON", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenTensorEndsPastTheData_NamesTheTensorAndSaysTruncated()
    {
        var path = _dir.Combine("t.safetensors");
        new SafetensorsWriter().Add("a", WeightDType.F32, [2], [1f, 2f]).Add("layer.weight", WeightDType.F32, [256], new float[256]).Save(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal("layer.weight", e.TensorName);
        Assert.Contains("(truncated)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenByteLengthDisagreesWithShape_NamesTheTensor()
    {
        var path = WithHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal("w", e.TensorName);
        Assert.Contains("has 20 data bytes, but shape [2, 3] of F32 needs 24", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenTensorsOverlap_SaysCorrupt()
    {
        var path = WithHeader("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 16);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));

        Assert.Contains("overlaps tensor 'a'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenEntryLacksOffsets_SaysCorruptEntry()
    {
        var path = WithHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8);

        var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path));

        Assert.Equal("w", e.TensorName);
        Assert.Contains("corrupt header entry", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Get_WhenTensorIsMissing_NamesFileAndTensor()
    {
        var path = _dir.Combine("a.safetensors");
        new SafetensorsWriter().Add("w", WeightDType.F32, [1], [1f]).Save(path);
        using var file = SafetensorsFile.Open(path);

        var e = Assert.Throws<CheckpointFormatException>(() => file.Get("model.layers.0.mlp.gate.weight"));

        Assert.Equal(path, e.FilePath);
        Assert.Equal("model.layers.0.mlp.gate.weight", e.TensorName);
        Assert.Contains("is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RequireShape_WhenShapeDiffers_SaysBothShapes()
    {
        var path = _dir.Combine("a.safetensors");
        new SafetensorsWriter().Add("w", WeightDType.F32, [2, 3], new float[6]).Save(path);
        using var file = SafetensorsFile.Open(path);

        var e = Assert.Throws<CheckpointFormatException>(() => file.RequireShape(file.Get("w"), 3, 2));

        Assert.Contains("has shape [2, 3], expected [3, 2]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFloat32_WhenDTypeIsUnsupported_NamesTheDType()
    {
        var path = WithHeader("{\"ids\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8);
        using var file = SafetensorsFile.Open(path);

        var e = Assert.Throws<CheckpointFormatException>(() => file.ReadFloat32(file.Get("ids"), new float[1]));

        Assert.Contains("has dtype I64; MoeCloud reads F32, BF16 and F16", e.Message, StringComparison.Ordinal);
    }

    private string Write(byte[] bytes)
    {
        var path = _dir.Combine($"{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WithHeader(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BitConverter.TryWriteBytes(bytes, (long)json.Length);
        json.CopyTo(bytes, 8);
        return Write(bytes);
    }
}
