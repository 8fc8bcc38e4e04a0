using System.Text.Json.Nodes;
using MoeCloud.Model.Traces;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Traces;

public sealed class TraceDirectoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [SharedTraceTheory]
    [MemberData(nameof(SharedTraceData.Names), MemberType = typeof(SharedTraceData))]
    public void Read_WhenSharedTrace_MatchesItsManifestAndReadme(string name)
    {
        var expected = new Dictionary<string, (int Tokens, int Sequences)>
        {
            ["esft-intent"] = (8222, 127),
            ["esft-law"] = (8327, 33),
            ["esft-summary"] = (8479, 13),
            ["esft-translation"] = (8251, 40),
        };

        var trace = TraceDirectory.Read(SharedTraceData.PathOf(name));

        Assert.Equal(26, trace.Layers);
        Assert.Equal(64, trace.Experts);
        Assert.Equal(6, trace.TopK);
        Assert.NotNull(trace.GateWeights);
        Assert.NotNull(trace.SeqIds);
        Assert.NotNull(trace.TokenPos);
        if (expected.TryGetValue(name, out var figures))
        {
            Assert.Equal(figures.Tokens, trace.Tokens);
            Assert.Equal(figures.Sequences, trace.Sequences.Count);
        }

        // Slots are sorted by gate weight and the weights are an unrenormalised softmax (sum below 1).
        for (var t = 0; t < trace.Tokens; t += 97)
        {
            var w = trace.GateWeights.AsSpan(trace.Index(t, 0, 0), trace.TopK);
            for (var k = 1; k < w.Length; k++)
            {
                Assert.True(w[k - 1] >= w[k]);
            }

            var sum = 0f;
            foreach (var x in w)
            {
                sum += x;
            }

            Assert.InRange(sum, 0f, 1.0001f);
        }
    }

    [Fact]
    public void WriteThenRead_RoundTripsEveryArrayAndUnknownManifestKeys()
    {
        var trace = SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Layers = 3, Experts = 8, TopK = 2, Tokens = 50, Sequences = 5, Seed = 3 });
        TraceDirectory.Write(_dir.Path, trace);
        var manifest = JsonNode.Parse(File.ReadAllText(_dir.Combine("manifest.json")))!.AsObject();
        manifest["notes"] = "kept";
        File.WriteAllText(_dir.Combine("manifest.json"), manifest.ToJsonString());

        var read = TraceDirectory.Read(_dir.Path);

        Assert.Equal(trace.ExpertIds, read.ExpertIds);
        Assert.Equal(trace.GateWeights, read.GateWeights);
        Assert.Equal(trace.SeqIds, read.SeqIds);
        Assert.Equal(trace.TokenPos, read.TokenPos);
        Assert.Equal("kept", read.Manifest.Extra!["notes"].GetString());
    }

    [Fact]
    public void Read_WhenOptionalFilesAreAbsent_ReadsExpertIdsAlone()
    {
        WriteSmall();
        File.Delete(_dir.Combine("gate_weights.npy"));
        File.Delete(_dir.Combine("seq_ids.npy"));
        File.Delete(_dir.Combine("token_pos.npy"));

        var trace = TraceDirectory.Read(_dir.Path);

        Assert.Null(trace.GateWeights);
        Assert.Null(trace.SeqIds);
        Assert.Equal(trace.Tokens, trace.Sequences.Count);
    }

    [Fact]
    public void Read_WhenInt32IdsAndFloat16Weights_AcceptsThem()
    {
        var trace = WriteSmall();
        NpyFile.Write(_dir.Combine("expert_ids.npy"), NpyArray.FromInt32(trace.ExpertIds.Select(i => (int)i).ToArray(), trace.Tokens, trace.Layers, trace.TopK));
        NpyFile.Write(_dir.Combine("gate_weights.npy"), NpyArray.FromFloat16(trace.GateWeights!.Select(w => (Half)w).ToArray(), trace.Tokens, trace.Layers, trace.TopK));

        var read = TraceDirectory.Read(_dir.Path);

        Assert.Equal(trace.ExpertIds, read.ExpertIds);
        Assert.Equal((float)(Half)trace.GateWeights![0], read.GateWeights![0]);
    }

    [Fact]
    public void Read_WhenShapeDisagreesWithManifest_NamesFileAndBothShapes()
    {
        var trace = WriteSmall();
        NpyFile.Write(_dir.Combine("expert_ids.npy"), NpyArray.FromInt16(trace.ExpertIds, trace.Tokens, trace.Layers * trace.TopK));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("expert_ids.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains($"({trace.Tokens}, {trace.Layers * trace.TopK})", e.Problem, StringComparison.Ordinal);
        Assert.Contains($"({trace.Tokens}, {trace.Layers}, {trace.TopK})", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdIsOutOfRange_NamesTokenLayerAndSlot()
    {
        var trace = WriteSmall();
        var ids = (short[])trace.ExpertIds.Clone();
        ids[trace.Index(2, 1, 1)] = 8;
        NpyFile.Write(_dir.Combine("expert_ids.npy"), NpyArray.FromInt16(ids, trace.Tokens, trace.Layers, trace.TopK));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("expert_ids.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("expert id 8 at token 2, layer 1, slot 1 is outside [0, 8)", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdIsNegative_Fails()
    {
        var trace = WriteSmall();
        var ids = (short[])trace.ExpertIds.Clone();
        ids[0] = -1;
        NpyFile.Write(_dir.Combine("expert_ids.npy"), NpyArray.FromInt16(ids, trace.Tokens, trace.Layers, trace.TopK));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.Contains("expert id -1", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdsAreTruncated_NamesFile()
    {
        WriteSmall();
        var path = _dir.Combine("expert_ids.npy");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^7]);

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains("truncated data", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdsAreFortranOrdered_NamesFile()
    {
        var trace = WriteSmall();
        var data = NpyArray.FromInt16(trace.ExpertIds, trace.Tokens, trace.Layers, trace.TopK).Data;
        File.WriteAllBytes(_dir.Combine("expert_ids.npy"), NpyFileTests.Build(1, $"{{'descr': '<i2', 'fortran_order': True, 'shape': ({trace.Tokens}, {trace.Layers}, {trace.TopK}), }}", data));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("expert_ids.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("Fortran", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdsHaveWrongMagic_NamesFile()
    {
        WriteSmall();
        File.WriteAllText(_dir.Combine("expert_ids.npy"), "not numpy at all");

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("expert_ids.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("wrong magic", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenExpertIdsAreFloats_Fails()
    {
        var trace = WriteSmall();
        NpyFile.Write(_dir.Combine("expert_ids.npy"), NpyArray.FromFloat32(new float[trace.ExpertIds.Length], trace.Tokens, trace.Layers, trace.TopK));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.Contains("int16 or int32 expected", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenGateWeightsDisagreeWithManifest_NamesGateWeights()
    {
        var trace = WriteSmall();
        NpyFile.Write(_dir.Combine("gate_weights.npy"), NpyArray.FromFloat32(new float[trace.Tokens * trace.Layers], trace.Tokens, trace.Layers));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("gate_weights.npy", e.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenGateWeightIsNaN_NamesGateWeights()
    {
        var trace = WriteSmall();
        var w = (float[])trace.GateWeights!.Clone();
        w[5] = float.NaN;
        NpyFile.Write(_dir.Combine("gate_weights.npy"), NpyArray.FromFloat32(w, trace.Tokens, trace.Layers, trace.TopK));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("gate_weights.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("not a finite number", e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenSeqIdsHaveWrongLength_NamesSeqIds()
    {
        var trace = WriteSmall();
        NpyFile.Write(_dir.Combine("seq_ids.npy"), NpyArray.FromInt32(new int[trace.Tokens - 1], trace.Tokens - 1));

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("seq_ids.npy", e.FilePath, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenManifestSequenceCountIsWrong_NamesSeqIds()
    {
        WriteSmall();
        var manifest = JsonNode.Parse(File.ReadAllText(_dir.Combine("manifest.json")))!.AsObject();
        manifest["sequences"] = 99;
        File.WriteAllText(_dir.Combine("manifest.json"), manifest.ToJsonString());

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("seq_ids.npy", e.FilePath, StringComparison.Ordinal);
        Assert.Contains("manifest says 99", e.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json", "not valid JSON")]
    [InlineData("{\"layers\": 0, \"experts\": 8, \"topK\": 2, \"tokens\": 4}", "'layers' must be positive")]
    [InlineData("{\"layers\": 2, \"experts\": 8, \"topK\": 9, \"tokens\": 4}", "'topK' must be in [1, experts]")]
    [InlineData("{\"layers\": \"two\"}", "not valid JSON")]
    public void Read_WhenManifestIsBad_NamesManifest(string json, string expected)
    {
        WriteSmall();
        File.WriteAllText(_dir.Combine("manifest.json"), json);

        var e = Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path));

        Assert.EndsWith("manifest.json", e.FilePath, StringComparison.Ordinal);
        Assert.Contains(expected, e.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Read_WhenFilesAreMissing_NamesTheMissingFile()
    {
        Assert.Contains("does not exist", Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Combine("nope"))).Problem, StringComparison.Ordinal);
        Assert.EndsWith("manifest.json", Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path)).FilePath, StringComparison.Ordinal);

        WriteSmall();
        File.Delete(_dir.Combine("expert_ids.npy"));
        Assert.EndsWith("expert_ids.npy", Assert.Throws<TraceFormatException>(() => TraceDirectory.Read(_dir.Path)).FilePath, StringComparison.Ordinal);
    }

    private RoutingTrace WriteSmall()
    {
        var trace = SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Layers = 2, Experts = 8, TopK = 2, Tokens = 12, Sequences = 3, Seed = 5 });
        TraceDirectory.Write(_dir.Path, trace);
        return trace;
    }
}
