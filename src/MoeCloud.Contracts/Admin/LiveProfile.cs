using System.Runtime.InteropServices;
using System.Text.Json.Serialization;

namespace MoeCloud.Contracts.Admin;

/// <summary>
/// The body of <c>GET admin/v1/profile</c>: the cluster's routing telemetry of one model, as the Placement library's
/// workload profile needs it. Counts are dispatches; <see cref="Transitions"/> and <see cref="Sample"/> carry the
/// co-activation that the ilp and incremental solvers use. Built with <see cref="Encode"/> and read with
/// <see cref="Decode"/>, which checks every shape and names the field that is wrong.
/// </summary>
public sealed record LiveProfile
{
    /// <summary>Model name.</summary>
    [JsonPropertyName("model")]
    public string Model { get; init; } = "";

    /// <summary>MoE layers.</summary>
    [JsonPropertyName("layers")]
    public int Layers { get; init; }

    /// <summary>Routed experts per layer.</summary>
    [JsonPropertyName("experts")]
    public int Experts { get; init; }

    /// <summary>Experts per token and layer.</summary>
    [JsonPropertyName("topK")]
    public int TopK { get; init; }

    /// <summary>Tokens served since the telemetry started.</summary>
    [JsonPropertyName("tokens")]
    public long Tokens { get; init; }

    /// <summary>Dispatches served on their token's home pod since the telemetry started.</summary>
    [JsonPropertyName("localDispatches")]
    public long LocalDispatches { get; init; }

    /// <summary>Dispatches served by another pod since the telemetry started.</summary>
    [JsonPropertyName("remoteDispatches")]
    public long RemoteDispatches { get; init; }

    /// <summary>Remote / (local + remote) dispatches (0 before any dispatch).</summary>
    [JsonPropertyName("remoteFraction")]
    public double RemoteFraction { get; init; }

    /// <summary>
    /// Tokens the windowed counts cover: <see cref="Load"/>, <see cref="Transitions"/> and <see cref="Sample"/> are a
    /// window over the most recent traffic (the silos' <c>TelemetryWindowTokens</c>), the dispatch counters above are
    /// lifetime counts.
    /// </summary>
    [JsonPropertyName("windowTokens")]
    public long WindowTokens { get; init; }

    /// <summary>Dispatches per expert over the window, <c>[layer][expert]</c>.</summary>
    [JsonPropertyName("load")]
    public long[][] Load { get; init; } = [];

    /// <summary>Adjacent-layer transition counts, base64 of little-endian int64 <c>[layers-1, experts, experts]</c>, or null.</summary>
    [JsonPropertyName("transitions")]
    public string? Transitions { get; init; }

    /// <summary>Sampled whole token routings, or null when none were sampled.</summary>
    [JsonPropertyName("sample")]
    public LiveSample? Sample { get; init; }

    /// <summary>The body of raw counts (all little-endian, as the runtime's telemetry holds them).</summary>
    /// <param name="model">Model name.</param>
    /// <param name="layers">MoE layers.</param>
    /// <param name="experts">Experts per layer.</param>
    /// <param name="topK">Experts per token and layer.</param>
    /// <param name="counters">Lifetime tokens, local and remote dispatches, and the tokens the windowed counts cover.</param>
    /// <param name="load">int64 <c>[layers, experts]</c>.</param>
    /// <param name="transitions">int64 <c>[layers-1, experts, experts]</c>, or empty.</param>
    /// <param name="sampleIds">int16 <c>[tokens, layers, topK]</c>, or empty.</param>
    public static LiveProfile Encode(string model, int layers, int experts, int topK, (long Tokens, long Local, long Remote, long Window) counters, ReadOnlySpan<byte> load, ReadOnlySpan<byte> transitions, ReadOnlySpan<byte> sampleIds)
    {
        var counts = MemoryMarshal.Cast<byte, long>(load);
        if (layers < 1 || experts < 1 || counts.Length != layers * experts)
        {
            throw new ArgumentException($"load holds {counts.Length} counts; [{layers} layers, {experts} experts] need {layers * experts}.", nameof(load));
        }

        var rows = new long[layers][];
        for (var l = 0; l < layers; l++)
        {
            rows[l] = counts.Slice(l * experts, experts).ToArray();
        }

        var sampled = topK > 0 ? sampleIds.Length / (sizeof(short) * layers * topK) : 0;
        return new LiveProfile
        {
            Model = model,
            Layers = layers,
            Experts = experts,
            TopK = topK,
            Tokens = counters.Tokens,
            LocalDispatches = counters.Local,
            RemoteDispatches = counters.Remote,
            WindowTokens = counters.Window,
            RemoteFraction = counters.Local + counters.Remote == 0 ? 0 : (double)counters.Remote / (counters.Local + counters.Remote),
            Load = rows,
            Transitions = transitions.IsEmpty ? null : Convert.ToBase64String(transitions),
            Sample = sampled == 0 ? null : new LiveSample(Convert.ToBase64String(sampleIds), [.. Enumerable.Range(0, sampled)]),
        };
    }

    /// <summary>
    /// The counts of this body, checked: <c>load</c> is <c>[layers][experts]</c> of non-negative counts,
    /// <c>transitions</c> (when present) <c>[layers-1, experts, experts]</c>, and the sample's expert ids are
    /// <c>[seqIds, layers, topK]</c> experts of the model. Throws <see cref="FormatException"/> naming the field.
    /// </summary>
    public LiveProfileCounts Decode()
    {
        if (Layers < 1 || Experts < 1 || TopK < 1 || TopK > Experts)
        {
            throw new FormatException($"'layers', 'experts' and 'topK' must be positive with topK ≤ experts (got {Layers}, {Experts}, {TopK}).");
        }

        if (Load is null || Load.Length != Layers || Array.Exists(Load, row => row is null || row.Length != Experts))
        {
            throw new FormatException($"'load' must be [{Layers} layers][{Experts} experts].");
        }

        var load = new long[Layers * Experts];
        for (var l = 0; l < Layers; l++)
        {
            if (Array.Exists(Load[l], c => c < 0))
            {
                throw new FormatException($"'load' of layer {l} holds a negative count.");
            }

            Load[l].CopyTo(load, l * Experts);
        }

        long[]? transitions = null;
        if (Transitions is not null)
        {
            transitions = Values<long>(Transitions, "transitions");
            var cells = (long)(Layers - 1) * Experts * Experts;
            if (transitions.LongLength != cells || Array.Exists(transitions, c => c < 0))
            {
                throw new FormatException($"'transitions' must hold {cells} non-negative int64 counts ([{Layers - 1}, {Experts}, {Experts}]), got {transitions.Length}.");
            }
        }

        short[] ids = [];
        int[] seqIds = [];
        if (Sample is not null)
        {
            ids = Values<short>(Sample.ExpertIds ?? "", "sample.expertIds");
            seqIds = Sample.SeqIds ?? [];
            if (ids.LongLength != (long)seqIds.Length * Layers * TopK)
            {
                throw new FormatException($"'sample.expertIds' holds {ids.Length} ids; {seqIds.Length} tokens × {Layers} layers × top-{TopK} need {(long)seqIds.Length * Layers * TopK}.");
            }

            if (Array.FindIndex(ids, e => e < 0 || e >= Experts) is var bad and >= 0)
            {
                throw new FormatException($"'sample.expertIds' names expert {ids[bad]}, outside 0..{Experts - 1}.");
            }
        }

        return new LiveProfileCounts(Model, Layers, Experts, TopK, load, transitions, ids, seqIds);
    }

    private static T[] Values<T>(string base64, string field)
        where T : unmanaged
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(base64);
        }
        catch (FormatException e)
        {
            throw new FormatException($"'{field}' is not base64 ({e.Message})", e);
        }

        if (bytes.Length % System.Runtime.CompilerServices.Unsafe.SizeOf<T>() != 0)
        {
            throw new FormatException($"'{field}' is not a whole number of {typeof(T).Name} values ({bytes.Length} bytes).");
        }

        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }
}

/// <summary>Sampled token routings of the live profile.</summary>
/// <param name="ExpertIds">Base64 of little-endian int16 <c>[tokens, layers, topK]</c>.</param>
/// <param name="SeqIds">The sequence of each sampled token.</param>
public sealed record LiveSample(
    [property: JsonPropertyName("expertIds")] string? ExpertIds,
    [property: JsonPropertyName("seqIds")] int[]? SeqIds);

/// <summary>A checked <see cref="LiveProfile"/> as flat arrays, the form the Placement library's profile takes.</summary>
/// <param name="Model">Model name.</param>
/// <param name="Layers">MoE layers.</param>
/// <param name="Experts">Experts per layer.</param>
/// <param name="TopK">Experts per token and layer.</param>
/// <param name="Load">Dispatches, <c>[layers × experts]</c>.</param>
/// <param name="Transitions">Transition counts <c>[(layers-1) × experts × experts]</c>, or null.</param>
/// <param name="SampleIds">Sampled routings <c>[tokens × layers × topK]</c>.</param>
/// <param name="SeqIds">Sequence of each sampled token.</param>
public sealed record LiveProfileCounts(string Model, int Layers, int Experts, int TopK, long[] Load, long[]? Transitions, short[] SampleIds, int[] SeqIds);
