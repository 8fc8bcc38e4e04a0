using System.Collections.Concurrent;
using MoeCloud.Model.Spec;

namespace MoeCloud.Model.Weights;

internal delegate void TensorReader<T>(SafetensorsFile file, TensorInfo info, Span<T> destination);

internal delegate long NonFiniteIndex<T>(ReadOnlySpan<T> values);

/// <summary>
/// A model checkpoint directory (<c>config.json</c> plus one safetensors file or shards with
/// <c>model.safetensors.index.json</c>), opened once per pod. Files are memory-mapped lazily; every load reads only
/// the tensors it returns. Layer arguments are MoE-layer indices (0-based over MoE layers). Thread-safe.
/// </summary>
public sealed class ModelCheckpoint : IDisposable
{
    /// <summary>The config file name.</summary>
    public const string ConfigFile = "config.json";

    private readonly ConcurrentDictionary<string, Lazy<SafetensorsFile>> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _weightMap;

    private ModelCheckpoint(string directory, ModelSpec spec)
    {
        Directory = directory;
        Spec = spec;
        _weightMap = CheckpointIndex.Read(directory, File);
    }

    /// <summary>The checkpoint directory.</summary>
    public string Directory { get; }

    /// <summary>The model spec from <c>config.json</c>.</summary>
    public ModelSpec Spec { get; }

    /// <summary>Files mapped so far.</summary>
    public int OpenFiles => _files.Count(f => f.Value.IsValueCreated);

    /// <summary>Opens <paramref name="directory"/>: reads <c>config.json</c> and the index (or the shards' headers).</summary>
    public static ModelCheckpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            throw new CheckpointFormatException(directory, null, "is not a checkpoint directory (it does not exist)");
        }

        return new ModelCheckpoint(directory, ModelSpec.FromHuggingFaceConfig(Path.Combine(directory, ConfigFile)));
    }

    /// <summary>Loads routed expert <paramref name="expert"/> of MoE layer <paramref name="moeLayer"/>; <paramref name="dtype"/> defaults to BF16 for BF16 checkpoints, else F32.</summary>
    public ExpertWeights LoadExpert(int moeLayer, int expert, WeightDType? dtype = null)
    {
        if ((uint)expert >= (uint)Spec.Experts)
        {
            throw new ArgumentOutOfRangeException(nameof(expert), expert, $"Expert must be in [0, {Spec.Experts}).");
        }

        var layer = Spec.ModelLayerOf(moeLayer);
        return LoadMlp(Spec.ExpertIntermediate, p => TensorNaming.Expert(Spec.Family, layer, expert, p), dtype);
    }

    /// <summary>Loads the fused shared MLP of MoE layer <paramref name="moeLayer"/>, or null when the model has none.</summary>
    public ExpertWeights? LoadSharedExpert(int moeLayer, WeightDType? dtype = null)
    {
        var layer = Spec.ModelLayerOf(moeLayer);
        return Spec.SharedExperts == 0 ? null : LoadMlp(Spec.SharedIntermediate, p => TensorNaming.Shared(Spec.Family, layer, p), dtype);
    }

    /// <summary>Loads Qwen2-MoE's shared-expert gate <c>[hidden]</c>, or null when the model has none.</summary>
    public float[]? LoadSharedExpertGate(int moeLayer)
    {
        var layer = Spec.ModelLayerOf(moeLayer);
        return Spec.SharedExpertGate ? ReadF32(TensorNaming.SharedGate(Spec.Family, layer), 1, Spec.Hidden) : null;
    }

    /// <summary>Loads the router of MoE layer <paramref name="moeLayer"/> (and its selection bias when the gating has one).</summary>
    public RouterWeights LoadGate(int moeLayer)
    {
        var layer = Spec.ModelLayerOf(moeLayer);
        var weight = ReadF32(TensorNaming.Router(Spec.Family, layer), Spec.Experts, Spec.Hidden);
        var bias = Spec.Gating.SelectionBias ? ReadF32(TensorNaming.RouterBias(Spec.Family, layer), Spec.Experts) : null;
        return new RouterWeights(Spec.Experts, Spec.Hidden, weight, bias);
    }

    /// <summary>Loads the RMSNorm weight <c>[hidden]</c> applied before MoE layer <paramref name="moeLayer"/>.</summary>
    public float[] LoadNorm(int moeLayer) => ReadF32(TensorNaming.Norm(Spec.ModelLayerOf(moeLayer)), Spec.Hidden);

    /// <summary>The file that holds <paramref name="tensor"/> and its header entry.</summary>
    public (SafetensorsFile File, TensorInfo Info) Locate(string tensor)
    {
        if (!_weightMap.TryGetValue(tensor, out var path))
        {
            throw new CheckpointFormatException(Directory, tensor, "is missing from the checkpoint");
        }

        var file = File(path);
        return (file, file.Get(tensor));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var file in _files.Values.Where(f => f.IsValueCreated))
        {
            file.Value.Dispose();
        }
    }

    private SafetensorsFile File(string path) =>
        _files.GetOrAdd(path, p => new Lazy<SafetensorsFile>(() => SafetensorsFile.Open(p), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private ExpertWeights LoadMlp(int intermediate, Func<ExpertProjection, string> name, WeightDType? dtype)
    {
        var wanted = dtype ?? (Spec.DType == WeightDType.BF16 ? WeightDType.BF16 : WeightDType.F32);
        long hidden = Spec.Hidden;
        var n = (int)(hidden * intermediate);
        var (gate, gateInfo) = Locate(name(ExpertProjection.Gate));
        var (up, upInfo) = Locate(name(ExpertProjection.Up));
        var (down, downInfo) = Locate(name(ExpertProjection.Down));
        gate.RequireShape(gateInfo, intermediate, hidden);
        up.RequireShape(upInfo, intermediate, hidden);
        down.RequireShape(downInfo, hidden, intermediate);
        if (wanted == WeightDType.BF16)
        {
            var (gateUp, d) = ReadMlp<ushort>(n, (gate, gateInfo), (up, upInfo), (down, downInfo), (f, i, dst) => f.ReadBFloat16(i, dst), v => BFloat16.IndexOfNonFinite(v));
            return ExpertWeights.FromBf16(Spec.Hidden, intermediate, gateUp, d);
        }

        if (wanted != WeightDType.F32)
        {
            throw new ArgumentException($"Expert weights load as F32 or BF16, not {wanted}.", nameof(dtype));
        }

        var (gu, dn) = ReadMlp<float>(n, (gate, gateInfo), (up, upInfo), (down, downInfo), (f, i, dst) => f.ReadFloat32(i, dst), v => BFloat16.IndexOfNonFinite(v));
        return ExpertWeights.FromF32(Spec.Hidden, intermediate, gu, dn);
    }

    /// <summary>Reads gate and up into one <c>[2n]</c> array and down into <c>[n]</c>, each checked for NaN and infinity.</summary>
    private static (T[] GateUp, T[] Down) ReadMlp<T>(int n, (SafetensorsFile File, TensorInfo Info) gate, (SafetensorsFile File, TensorInfo Info) up, (SafetensorsFile File, TensorInfo Info) down, TensorReader<T> read, NonFiniteIndex<T> check)
    {
        var gateUp = new T[2 * n];
        var d = new T[n];
        foreach (var (tensor, target) in new[] { (gate, new Memory<T>(gateUp, 0, n)), (up, new Memory<T>(gateUp, n, n)), (down, new Memory<T>(d)) })
        {
            read(tensor.File, tensor.Info, target.Span);
            RequireFinite(tensor.File, tensor.Info, check(target.Span));
        }

        return (gateUp, d);
    }

    private float[] ReadF32(string tensor, params long[] shape)
    {
        var (file, info) = Locate(tensor);
        file.RequireShape(info, shape);
        var values = new float[info.ElementCount];
        file.ReadFloat32(info, values);
        RequireFinite(file, info, BFloat16.IndexOfNonFinite(values));
        return values;
    }

    private static void RequireFinite(SafetensorsFile file, TensorInfo info, long index)
    {
        if (index >= 0)
        {
            throw new CheckpointFormatException(file.Path, info.Name, $"holds a NaN or infinite value at element {index}");
        }
    }
}
