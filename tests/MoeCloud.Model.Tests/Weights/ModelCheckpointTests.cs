using System.Text.Json.Nodes;
using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Testing;

namespace MoeCloud.Model.Tests.Weights;

public sealed class ModelCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(ModelFamily.Mixtral, "model.layers.3.block_sparse_moe.experts.7.w2.weight")]
    [InlineData(ModelFamily.Qwen2Moe, "model.layers.3.mlp.experts.7.down_proj.weight")]
    [InlineData(ModelFamily.Qwen3Moe, "model.layers.3.mlp.experts.7.down_proj.weight")]
    [InlineData(ModelFamily.DeepseekV2, "model.layers.3.mlp.experts.7.down_proj.weight")]
    [InlineData(ModelFamily.DeepseekV3, "model.layers.3.mlp.experts.7.down_proj.weight")]
    [InlineData(ModelFamily.Olmoe, "model.layers.3.mlp.experts.7.down_proj.weight")]
    public void Open_WhenSyntheticModelOfFamily_LoadsExpertsGateSharedAndNormByFamilyNaming(ModelFamily family, string lastDownProjection)
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny", family);
        SyntheticModelWriter.Write(_dir.Path, spec, vocab);

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var last = spec.MoeLayers - 1;
        var expert = checkpoint.LoadExpert(last, spec.Experts - 1);
        var gate = checkpoint.LoadGate(last);
        var shared = checkpoint.LoadSharedExpert(last);

        Assert.Equal(spec, checkpoint.Spec);
        Assert.Equal((spec.Hidden, spec.ExpertIntermediate), (expert.Hidden, expert.Intermediate));
        Assert.Contains(expert.ToF32().Down, v => v != 0);
        Assert.Equal(spec.Experts * spec.Hidden, gate.Weight.Length);
        Assert.Equal(spec.Gating.SelectionBias, gate.SelectionBias is not null);
        Assert.Equal(spec.SharedExperts > 0, shared is not null);
        Assert.Equal(spec.SharedExpertGate, checkpoint.LoadSharedExpertGate(last) is not null);
        Assert.All(checkpoint.LoadNorm(last), v => Assert.Equal(1f, v));
        Assert.Equal([(long)spec.Hidden, spec.ExpertIntermediate], checkpoint.Locate(lastDownProjection).Info.Shape);
    }

    [Fact]
    public void Open_WhenSharded_ReadsTheIndexAndMapsOnlyTheShardsItTouches()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        var summary = SyntheticModelWriter.Write(_dir.Path, spec, vocab, new SyntheticModelOptions { MaxShardBytes = 1 << 20 });
        Assert.True(summary.Files.Count > 3);
        Assert.True(File.Exists(_dir.Combine("model.safetensors.index.json")));

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var weights = checkpoint.LoadExpert(3, 17);

        Assert.Equal(WeightDType.BF16, weights.DType);
        Assert.Equal(1, checkpoint.OpenFiles);
    }

    [Fact]
    public void LoadExpert_WhenAskedForF32FromBf16_WidensExactly()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny", dtype: WeightDType.BF16);
        SyntheticModelWriter.Write(_dir.Path, spec, vocab);
        using var checkpoint = ModelCheckpoint.Open(_dir.Path);

        var bf16 = checkpoint.LoadExpert(1, 2);
        var f32 = checkpoint.LoadExpert(1, 2, WeightDType.F32);

        Assert.Equal(bf16.ToF32().GateUp, f32.GateUpF32.ToArray());
    }

    [Fact]
    public void LoadExpert_WhenCheckpointIsF16_LoadsAsF32CloseToTheBf16Model()
    {
        var (f16Spec, vocab) = SyntheticModelPresets.Get("tiny", dtype: WeightDType.F16);
        SyntheticModelWriter.Write(_dir.Combine("f16"), f16Spec, vocab);
        SyntheticModelWriter.Write(_dir.Combine("f32"), f16Spec with { DType = WeightDType.F32 }, vocab);
        using var f16 = ModelCheckpoint.Open(_dir.Combine("f16"));
        using var f32 = ModelCheckpoint.Open(_dir.Combine("f32"));

        var half = f16.LoadExpert(2, 4);
        var full = f32.LoadExpert(2, 4);

        Assert.Equal(WeightDType.F16, f16.Spec.DType);
        Assert.Equal(WeightDType.F32, half.DType);
        var a = half.GateUpF32.ToArray();
        var b = full.GateUpF32.ToArray();
        Assert.All(Enumerable.Range(0, a.Length), i => Assert.True(Math.Abs(a[i] - b[i]) <= (Math.Abs(b[i]) / 1024) + 1e-6, $"element {i}: {a[i]} vs {b[i]}"));
    }

    [Fact]
    public void LoadExpert_WhenTensorIsMissingFromTheIndex_NamesTheTensor()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(_dir.Path, spec, vocab, new SyntheticModelOptions { MaxShardBytes = 1 << 20 });
        var indexPath = _dir.Combine("model.safetensors.index.json");
        var missing = TensorNaming.Expert(spec.Family, spec.ModelLayerOf(0), 5, ExpertProjection.Down);
        if (File.Exists(indexPath))
        {
            var index = JsonNode.Parse(File.ReadAllText(indexPath))!;
            index["weight_map"]!.AsObject().Remove(missing);
            File.WriteAllText(indexPath, index.ToJsonString());
        }
        else
        {
            RewriteWithout(_dir.Combine("model.safetensors"), missing);
        }

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var e = Assert.Throws<CheckpointFormatException>(() => checkpoint.LoadExpert(0, 5));

        Assert.Equal(missing, e.TensorName);
        Assert.Contains("is missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenIndexNamesAMissingShard_NamesTheShard()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        var summary = SyntheticModelWriter.Write(_dir.Path, spec, vocab, new SyntheticModelOptions { MaxShardBytes = 4 << 20 });
        File.Delete(summary.Files[^1]);

        var e = Assert.Throws<CheckpointFormatException>(() => ModelCheckpoint.Open(_dir.Path));

        Assert.Equal(summary.Files[^1], e.FilePath);
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenIndexIsMalformed_NamesTheIndex()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        SyntheticModelWriter.Write(_dir.Path, spec, vocab, new SyntheticModelOptions { MaxShardBytes = 4 << 20 });
        File.WriteAllText(_dir.Combine("model.safetensors.index.json"), "{\"metadata\": {}}");

        var e = Assert.Throws<CheckpointFormatException>(() => ModelCheckpoint.Open(_dir.Path));

        Assert.Contains("has no 'weight_map' object", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadExpert_WhenShardIsTruncated_NamesTheShard()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("small");
        var summary = SyntheticModelWriter.Write(_dir.Path, spec, vocab, new SyntheticModelOptions { MaxShardBytes = 4 << 20 });
        var shard = summary.Files[^1];
        using (var stream = new FileStream(shard, FileMode.Open))
        {
            stream.SetLength(stream.Length / 2);
        }

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var e = Assert.Throws<CheckpointFormatException>(() => checkpoint.LoadExpert(spec.MoeLayers - 1, spec.Experts - 1));

        Assert.Equal(shard, e.FilePath);
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadExpert_WhenShapeDisagreesWithConfig_NamesTensorAndShapes()
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(_dir.Path, spec, vocab);
        var config = JsonNode.Parse(File.ReadAllText(_dir.Combine("config.json")))!;
        config["moe_intermediate_size"] = spec.ExpertIntermediate * 2;
        config["n_shared_experts"] = 0;
        File.WriteAllText(_dir.Combine("config.json"), config.ToJsonString());

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var e = Assert.Throws<CheckpointFormatException>(() => checkpoint.LoadExpert(0, 0));

        Assert.Equal(TensorNaming.Expert(spec.Family, 1, 0, ExpertProjection.Gate), e.TensorName);
        Assert.Contains($"has shape [{spec.ExpertIntermediate}, {spec.Hidden}], expected [{spec.ExpertIntermediate * 2}, {spec.Hidden}]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadExpert_WhenWeightsHoldNaN_NamesTensorAndElement()
    {
        var spec = SyntheticModelPresets.Get("tiny").Spec with { SharedExperts = 0, SharedIntermediate = 0 };
        var name = TensorNaming.Expert(spec.Family, 1, 0, ExpertProjection.Up);
        var writer = new SafetensorsWriter();
        writer.Add(TensorNaming.Expert(spec.Family, 1, 0, ExpertProjection.Gate), WeightDType.F32, [spec.ExpertIntermediate, spec.Hidden], v => v.Fill(0.5f));
        writer.Add(name, WeightDType.F32, [spec.ExpertIntermediate, spec.Hidden], v =>
        {
            v.Fill(0.5f);
            v[7] = float.NaN;
        });
        writer.Add(TensorNaming.Expert(spec.Family, 1, 0, ExpertProjection.Down), WeightDType.F32, [spec.Hidden, spec.ExpertIntermediate], v => v.Fill(0.5f));
        writer.Save(_dir.Combine("model.safetensors"));
        File.WriteAllText(_dir.Combine("config.json"), HuggingFaceConfigWriter.ToJson(spec));

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var e = Assert.Throws<CheckpointFormatException>(() => checkpoint.LoadExpert(0, 0));

        Assert.Equal(name, e.TensorName);
        Assert.Contains("NaN or infinite value at element 7", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_WhenConfigIsMissing_NamesConfigJson()
    {
        var e = Assert.Throws<ModelConfigException>(() => ModelCheckpoint.Open(_dir.Path));

        Assert.Equal(_dir.Combine("config.json"), e.ConfigPath);
    }

    [Fact]
    public void LoadExpert_AfterEvictingTheFile_PagesInOnlyThatExpertsBytes()
    {
        var spec = SyntheticModelPresets.Get("tiny").Spec with
        {
            Layers = 2, MoeLayerIndices = [1], Experts = 16, Hidden = 256, ExpertIntermediate = 128, SharedExperts = 0, SharedIntermediate = 0, DType = WeightDType.BF16,
        };
        var summary = SyntheticModelWriter.Write(_dir.Path, spec, vocabulary: 8);
        var file = Assert.Single(summary.Files);
        PageCache.Evict(file);
        var before = PageCache.ResidentBytes(file);

        using var checkpoint = ModelCheckpoint.Open(_dir.Path);
        var weights = checkpoint.LoadExpert(0, 9);
        var touched = PageCache.ResidentBytes(file) - before;

        // Three tensors of 64 KiB in bf16, each over at most one extra partial page, plus the header's pages.
        var bytes = weights.Bytes;
        var header = checkpoint.Locate(TensorNaming.Norm(1)).File.DataOffset + PageCache.PageSize;
        Assert.InRange(touched, bytes, bytes + (3L * PageCache.PageSize) + header);
        Assert.True(new FileInfo(file).Length > 15 * bytes);
    }

    private static void RewriteWithout(string path, string tensor)
    {
        var writer = new SafetensorsWriter();
        using (var file = SafetensorsFile.Open(path))
        {
            foreach (var info in file.Tensors.Values.Where(t => t.Name != tensor).OrderBy(t => t.Begin))
            {
                var values = new float[info.ElementCount];
                file.ReadFloat32(info, values);
                writer.Add(info.Name, info.DType!.Value, info.Shape, values);
            }
        }

        writer.Save(path);
    }
}
