using System.Text.Json;

namespace MoeCloud.Model.Traces;

/// <summary>
/// Reads and writes the trace directory format of DESIGN.md §7: <c>manifest.json</c>, <c>expert_ids.npy</c> and the
/// optional <c>gate_weights.npy</c>, <c>seq_ids.npy</c> and <c>token_pos.npy</c>. Every problem is reported as a
/// <see cref="TraceFormatException"/> that names the file.
/// </summary>
public static class TraceDirectory
{
    /// <summary>The manifest's file name.</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>The expert ids' file name.</summary>
    public const string ExpertIdsFile = "expert_ids.npy";

    /// <summary>The gate weights' file name.</summary>
    public const string GateWeightsFile = "gate_weights.npy";

    /// <summary>The sequence ids' file name.</summary>
    public const string SeqIdsFile = "seq_ids.npy";

    /// <summary>The token positions' file name.</summary>
    public const string TokenPosFile = "token_pos.npy";

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Reads the trace in <paramref name="directory"/>.</summary>
    public static RoutingTrace Read(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new TraceFormatException(directory, "is not a trace directory (it does not exist)");
        }

        var manifest = ReadManifest(Path.Combine(directory, ManifestFile));
        var idsPath = Path.Combine(directory, ExpertIdsFile);
        if (!File.Exists(idsPath))
        {
            throw new TraceFormatException(idsPath, "is missing (every trace needs expert ids)");
        }

        int[] cellShape = [manifest.Tokens, manifest.Layers, manifest.TopK];
        var idsArray = NpyFile.Read(idsPath);
        RequireInteger(idsPath, idsArray);
        RequireShape(idsPath, idsArray, cellShape, "[tokens, layers, topK]");
        var ids = ReadExpertIds(idsPath, idsArray, manifest);

        var weights = ReadOptional(directory, GateWeightsFile, cellShape, "[tokens, layers, topK]", floating: true);
        var gate = weights?.ToFloat32();
        if (gate is not null)
        {
            var bad = Array.FindIndex(gate, w => !float.IsFinite(w));
            if (bad >= 0)
            {
                throw new TraceFormatException(Path.Combine(directory, GateWeightsFile), $"gate weight {gate[bad]} at token {bad / (manifest.Layers * manifest.TopK)} is not a finite number");
            }
        }

        var seq = ReadOptional(directory, SeqIdsFile, [manifest.Tokens], "[tokens]", floating: false)?.ToInt32();
        var pos = ReadOptional(directory, TokenPosFile, [manifest.Tokens], "[tokens]", floating: false)?.ToInt32();
        if (seq is not null && manifest.Sequences is { } declared)
        {
            var distinct = seq.Distinct().Count();
            if (distinct != declared)
            {
                throw new TraceFormatException(Path.Combine(directory, SeqIdsFile), $"holds {distinct} distinct sequences, the manifest says {declared}");
            }
        }

        return new RoutingTrace(manifest, ids, gate, seq, pos);
    }

    /// <summary>Writes <paramref name="trace"/> into <paramref name="directory"/> (created if needed).</summary>
    public static void Write(string directory, RoutingTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        Directory.CreateDirectory(directory);
        var manifest = trace.Manifest with { Sequences = trace.Sequences.Count };
        File.WriteAllText(Path.Combine(directory, ManifestFile), JsonSerializer.Serialize(manifest, JsonOptions) + "\n");
        NpyFile.Write(Path.Combine(directory, ExpertIdsFile), NpyArray.FromInt16(trace.ExpertIds, trace.Tokens, trace.Layers, trace.TopK));
        WriteOrDelete(directory, GateWeightsFile, trace.GateWeights is null ? null : NpyArray.FromFloat32(trace.GateWeights, trace.Tokens, trace.Layers, trace.TopK));
        WriteOrDelete(directory, SeqIdsFile, trace.SeqIds is null ? null : NpyArray.FromInt32(trace.SeqIds, trace.Tokens));
        WriteOrDelete(directory, TokenPosFile, trace.TokenPos is null ? null : NpyArray.FromInt32(trace.TokenPos, trace.Tokens));
    }

    private static void WriteOrDelete(string directory, string file, NpyArray? array)
    {
        var path = Path.Combine(directory, file);
        if (array is null)
        {
            File.Delete(path);
        }
        else
        {
            NpyFile.Write(path, array);
        }
    }

    private static TraceManifest ReadManifest(string path)
    {
        if (!File.Exists(path))
        {
            throw new TraceFormatException(path, "is missing");
        }

        TraceManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TraceManifest>(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(path, $"is not valid JSON ({e.Message})", e);
        }

        if (manifest is null)
        {
            throw new TraceFormatException(path, "is empty (null)");
        }

        var problems = new List<string>();
        if (manifest.Layers <= 0)
        {
            problems.Add($"'layers' must be positive (got {manifest.Layers})");
        }

        if (manifest.Experts <= 0 || manifest.Experts > short.MaxValue)
        {
            problems.Add($"'experts' must be in [1, {short.MaxValue}] (got {manifest.Experts})");
        }

        if (manifest.TopK <= 0 || manifest.TopK > manifest.Experts)
        {
            problems.Add($"'topK' must be in [1, experts] (got {manifest.TopK})");
        }

        if (manifest.Tokens < 0)
        {
            problems.Add($"'tokens' must not be negative (got {manifest.Tokens})");
        }

        if (problems.Count > 0)
        {
            throw new TraceFormatException(path, string.Join("; ", problems));
        }

        return manifest;
    }

    private static NpyArray? ReadOptional(string directory, string file, int[] shape, string shapeName, bool floating)
    {
        var path = Path.Combine(directory, file);
        if (!File.Exists(path))
        {
            return null;
        }

        var array = NpyFile.Read(path);
        if (floating && array.DType is not (NpyDType.Float16 or NpyDType.Float32))
        {
            throw new TraceFormatException(path, $"has dtype {array.DType}; float16 or float32 expected");
        }

        if (!floating)
        {
            RequireInteger(path, array);
        }

        RequireShape(path, array, shape, shapeName);
        return array;
    }

    private static void RequireInteger(string path, NpyArray array)
    {
        if (array.DType is not (NpyDType.Int16 or NpyDType.Int32))
        {
            throw new TraceFormatException(path, $"has dtype {array.DType}; int16 or int32 expected");
        }
    }

    private static void RequireShape(string path, NpyArray array, int[] expected, string meaning)
    {
        if (!array.Shape.SequenceEqual(expected))
        {
            throw new TraceFormatException(path, $"shape ({string.Join(", ", array.Shape)}) disagrees with the manifest: expected {meaning} = ({string.Join(", ", expected)})");
        }
    }

    private static short[] ReadExpertIds(string path, NpyArray array, TraceManifest manifest)
    {
        var values = array.ToInt32();
        var ids = new short[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var v = values[i];
            if ((uint)v >= (uint)manifest.Experts)
            {
                var stride = manifest.Layers * manifest.TopK;
                throw new TraceFormatException(path, $"expert id {v} at token {i / stride}, layer {i / manifest.TopK % manifest.Layers}, slot {i % manifest.TopK} is outside [0, {manifest.Experts})");
            }

            ids[i] = (short)v;
        }

        return ids;
    }
}
