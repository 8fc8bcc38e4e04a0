using System.Text;
using System.Text.Json;

namespace MoeCloud.Model.Traces;

/// <summary>
/// Dispatch counts per (layer, expert): a load-only workload profile. Built from a trace (all slots counted) or
/// loaded from SGLang's expert-distribution count dump (<c>{"counts": [layers][experts], ...}</c>, or the recorder's
/// <c>logical_count</c> saved as JSON or <c>.npy</c>).
/// </summary>
public sealed class ExpertLoad
{
    /// <summary>Creates a load table; <paramref name="counts"/> is flat <c>[layers, experts]</c>.</summary>
    public ExpertLoad(int layers, int experts, long[] counts)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(experts);
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.LongLength != (long)layers * experts)
        {
            throw new ArgumentException($"counts hold {counts.LongLength} values, [{layers}, {experts}] needs {(long)layers * experts}.", nameof(counts));
        }

        if (Array.Exists(counts, c => c < 0))
        {
            throw new ArgumentException("counts must not be negative.", nameof(counts));
        }

        Layers = layers;
        Experts = experts;
        Counts = counts;
    }

    /// <summary>Layers.</summary>
    public int Layers { get; }

    /// <summary>Experts per layer.</summary>
    public int Experts { get; }

    /// <summary>Dispatches, flat <c>[layers, experts]</c>.</summary>
    public long[] Counts { get; }

    /// <summary>Dispatches of one expert.</summary>
    public long this[int layer, int expert] => Counts[(layer * Experts) + expert];

    /// <summary>Counts every slot of every token of <paramref name="trace"/>.</summary>
    public static ExpertLoad FromTrace(RoutingTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var counts = new long[trace.Layers * trace.Experts];
        for (var t = 0; t < trace.Tokens; t++)
        {
            for (var l = 0; l < trace.Layers; l++)
            {
                foreach (var e in trace.Slots(t, l))
                {
                    counts[(l * trace.Experts) + e]++;
                }
            }
        }

        return new ExpertLoad(trace.Layers, trace.Experts, counts);
    }

    /// <summary>
    /// Loads an SGLang expert-distribution count dump. SGLang's recorder (<c>/dump_expert_distribution_record</c>)
    /// saves a PyTorch <c>.pt</c> dict whose <c>logical_count</c> is <c>[steps, hidden layers, logical experts]</c>;
    /// MoeCloud does not read pickles, so save that tensor as JSON or NumPy first. Read here: a JSON object whose
    /// <c>counts</c> or <c>logical_count</c> is <c>[layers][experts]</c> or <c>[steps][layers][experts]</c> (other keys
    /// ignored; SGLang's <c>--init-expert-location</c> takes the same <c>{"logical_count": …}</c> file), or a
    /// <c>.npy</c> of either shape (int16, int32 or int64). Steps are summed.
    /// </summary>
    public static ExpertLoad LoadSglangDump(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.EndsWith(".pt", StringComparison.OrdinalIgnoreCase))
        {
            throw new TraceFormatException(path, "is a PyTorch pickle, which MoeCloud does not read; save its logical_count as JSON or .npy first: "
                + "python -c \"import sys,torch,numpy; numpy.save(sys.argv[2], torch.load(sys.argv[1])['logical_count'].cpu().numpy())\" dump.pt counts.npy");
        }

        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            return FromNpy(path, NpyFile.Read(path));
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TraceFormatException(path, $"cannot be read ({e.Message})", e);
        }
        catch (JsonException e)
        {
            throw new TraceFormatException(path, $"is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !(doc.RootElement.TryGetProperty("counts", out var counts) || doc.RootElement.TryGetProperty("logical_count", out counts)))
            {
                throw new TraceFormatException(path, "has no 'counts' array (nor 'logical_count'; expected {\"counts\": [layers][experts], ...})");
            }

            return ParseCounts(path, counts);
        }
    }

    /// <summary>Writes the counts as <c>{"counts": [layers][experts]}</c>, one layer per line, which <see cref="LoadSglangDump"/> reads.</summary>
    public void Save(string path)
    {
        var text = new StringBuilder("{\n  \"counts\": [\n");
        for (var l = 0; l < Layers; l++)
        {
            text.Append("    ").Append(JsonSerializer.Serialize(Counts.AsSpan(l * Experts, Experts).ToArray())).Append(l + 1 < Layers ? ",\n" : "\n");
        }

        text.Append("  ]\n}\n");
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text.ToString());
    }

    /// <summary>The rows <paramref name="layers"/> in that order (for example a model's MoE layers out of all its hidden layers).</summary>
    public ExpertLoad SelectLayers(IReadOnlyList<int> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        var counts = new long[layers.Count * Experts];
        for (var i = 0; i < layers.Count; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(layers[i]);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layers[i], Layers);
            Array.Copy(Counts, layers[i] * Experts, counts, i * Experts, Experts);
        }

        return new ExpertLoad(layers.Count, Experts, counts);
    }

    /// <summary>The hottest expert's load over the mean load of <paramref name="layer"/> (0 when the layer saw nothing).</summary>
    public double Skew(int layer)
    {
        var row = Counts.AsSpan(layer * Experts, Experts);
        long max = 0, sum = 0;
        foreach (var c in row)
        {
            max = Math.Max(max, c);
            sum += c;
        }

        return sum == 0 ? 0 : max / ((double)sum / Experts);
    }

    /// <summary>
    /// The <paramref name="count"/> hottest (layer, expert) pairs, most dispatches first (ties: lower layer, then lower
    /// expert), leaving out pairs without load; fewer when fewer pairs have load. O(layers × experts × log count).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1.</exception>
    public IReadOnlyList<(int Layer, int Expert, long Dispatches)> Hottest(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        // 1. Keep the best `count` cells seen so far in a min-heap keyed by (dispatches, then the later cell first).
        var heap = new PriorityQueue<int, (long Dispatches, int Cell)>(count + 1, Comparer<(long Dispatches, int Cell)>.Create(
            static (a, b) => a.Dispatches != b.Dispatches ? a.Dispatches.CompareTo(b.Dispatches) : b.Cell.CompareTo(a.Cell)));
        for (var cell = 0; cell < Counts.Length; cell++)
        {
            if (Counts[cell] > 0)
            {
                heap.Enqueue(cell, (Counts[cell], cell));
                if (heap.Count > count)
                {
                    heap.Dequeue();
                }
            }
        }

        // 2. Drain the heap (coldest first) into the result from the back.
        var hottest = new (int Layer, int Expert, long Dispatches)[heap.Count];
        for (var i = hottest.Length - 1; i >= 0; i--)
        {
            var cell = heap.Dequeue();
            hottest[i] = (cell / Experts, cell % Experts, Counts[cell]);
        }

        return hottest;
    }

    private static ExpertLoad FromNpy(string path, NpyArray array)
    {
        if (array.DType is not (NpyDType.Int16 or NpyDType.Int32 or NpyDType.Int64))
        {
            throw new TraceFormatException(path, $"has dtype {array.DType}; counts must be integers (int16, int32 or int64)");
        }

        if (array.Shape.Count is not (2 or 3) || array.ElementCount == 0)
        {
            throw new TraceFormatException(path, $"has shape ({string.Join(", ", array.Shape)}); [layers, experts] or [steps, layers, experts] expected");
        }

        int layers = array.Shape[^2], experts = array.Shape[^1];
        var values = array.ToInt64();
        var sum = new long[layers * experts];
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] < 0)
            {
                var cell = i % sum.Length;
                throw new TraceFormatException(path, $"count at layer {cell / experts}, expert {cell % experts} is negative ({values[i]})");
            }

            sum[i % sum.Length] += values[i];
        }

        return new ExpertLoad(layers, experts, sum);
    }

    private static ExpertLoad ParseCounts(string path, JsonElement counts)
    {
        if (counts.ValueKind != JsonValueKind.Array || counts.GetArrayLength() == 0)
        {
            throw new TraceFormatException(path, "'counts' must be a non-empty array");
        }

        var depth = 1;
        for (var e = counts[0]; e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0; e = e[0])
        {
            depth++;
        }

        var passes = depth switch
        {
            2 => new[] { counts },
            3 => counts.EnumerateArray().ToArray(),
            _ => throw new TraceFormatException(path, $"'counts' has {depth} dimensions; [layers][experts] or [passes][layers][experts] expected"),
        };

        int layers = passes[0].GetArrayLength(), experts = passes[0][0].GetArrayLength();
        var sum = new long[layers * experts];
        for (var p = 0; p < passes.Length; p++)
        {
            if (passes[p].ValueKind != JsonValueKind.Array || passes[p].GetArrayLength() != layers)
            {
                throw new TraceFormatException(path, $"pass {p} of 'counts' does not have {layers} layers");
            }

            for (var l = 0; l < layers; l++)
            {
                var row = passes[p][l];
                if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != experts)
                {
                    throw new TraceFormatException(path, $"layer {l} of 'counts' does not have {experts} experts (rows must all be the same length)");
                }

                for (var e = 0; e < experts; e++)
                {
                    var cell = row[e];
                    if (cell.ValueKind != JsonValueKind.Number || !cell.TryGetDouble(out var v) || v < 0 || !double.IsFinite(v) || v != Math.Floor(v))
                    {
                        throw new TraceFormatException(path, $"count at layer {l}, expert {e} is not a non-negative whole number ({cell.GetRawText()})");
                    }

                    sum[(l * experts) + e] += (long)v;
                }
            }
        }

        return new ExpertLoad(layers, experts, sum);
    }
}
