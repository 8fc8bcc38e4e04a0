using System.Text.Json;
using System.Text.Json.Serialization;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Plans;

/// <summary>
/// Plan JSON on disk (format <c>moecloud.plan/v1</c>). Keys, in order:
/// <c>format</c>, <c>version</c>, <c>createdUtc</c>, <c>solver</c>, <c>seed</c>, <c>layers</c>, <c>experts</c>,
/// <c>redundant</c>, <c>pods</c> (<c>[{id, capacity}]</c>), <c>profile</c> (<c>{name, fingerprint}</c>),
/// <c>solve</c> (<c>{status, objective, bound, seconds, note}</c> or null), <c>predicted</c> (the simulator's metrics
/// on the fitting profile, or those of a replay written by <c>moectl simulate --write-plan</c>, or null; an optional
/// <c>time</c> inside it carries <see cref="TimeModel"/>'s prediction, and files without it read as before) and <c>assignment</c> (<c>[layer][expert] → [pods]</c>, replica index = position,
/// one layer per line). Loading checks everything and reports problems naming the file.
/// </summary>
public static class PlanFile
{
    /// <summary>The format tag written into every plan.</summary>
    public const string Format = "moecloud.plan/v1";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(), new CompactLayerConverter() },
    };

    /// <summary>Writes <paramref name="plan"/> to <paramref name="path"/> (through a temporary file).</summary>
    public static void Save(string path, PlacementPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var dto = new PlanJson(
            Format,
            plan.Info.Version,
            plan.Info.CreatedUtc,
            plan.Info.Solver,
            plan.Info.Seed,
            plan.Layers,
            plan.Experts,
            plan.Redundant,
            plan.Pods.ToArray(),
            new ProfileRef(plan.Info.ProfileName, plan.Info.ProfileFingerprint),
            plan.Info.Solve,
            plan.Info.Predicted,
            plan.ToAssignment());
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(dto, Options) + "\n");
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>Reads and validates the plan at <paramref name="path"/>; throws <see cref="PlanFormatException"/>.</summary>
    public static PlacementPlan Load(string path)
    {
        PlanJson? dto;
        try
        {
            dto = JsonSerializer.Deserialize<PlanJson>(File.ReadAllText(path), Options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PlanFormatException(path, $"cannot be read ({e.Message})", e);
        }
        catch (JsonException e)
        {
            throw new PlanFormatException(path, $"is not a valid plan JSON ({e.Message})", e);
        }

        if (dto is null)
        {
            throw new PlanFormatException(path, "is empty (null)");
        }

        if (dto.Format != Format)
        {
            throw new PlanFormatException(path, $"has format '{dto.Format}'; '{Format}' expected");
        }

        if (dto.Pods is null || dto.Assignment is null)
        {
            throw new PlanFormatException(path, "needs 'pods' and 'assignment'");
        }

        if (dto.Assignment.Length != dto.Layers || dto.Assignment.Any(l => l is null || l.Length != dto.Experts))
        {
            throw new PlanFormatException(path, $"'assignment' must be [{dto.Layers} layers][{dto.Experts} experts] as 'layers' and 'experts' say");
        }

        var info = new PlanMetadata
        {
            Version = dto.Version,
            CreatedUtc = dto.CreatedUtc,
            Solver = dto.Solver ?? "",
            Seed = dto.Seed,
            ProfileName = dto.Profile?.Name ?? "",
            ProfileFingerprint = dto.Profile?.Fingerprint ?? "",
            Solve = dto.Solve,
            Predicted = dto.Predicted,
        };
        try
        {
            return new PlacementPlan(info, dto.Pods, dto.Assignment);
        }
        catch (ArgumentException e)
        {
            throw new PlanFormatException(path, $"is not a valid plan: {e.Message.Replace(" (Parameter 'assignment')", "", StringComparison.Ordinal)}", e);
        }
    }

    private sealed record ProfileRef(string Name, string Fingerprint);

    private sealed record PlanJson(
        string Format,
        int Version,
        DateTimeOffset CreatedUtc,
        string? Solver,
        int Seed,
        int Layers,
        int Experts,
        int Redundant,
        PodSpec[]? Pods,
        ProfileRef? Profile,
        SolveSummary? Solve,
        SimulationMetrics? Predicted,
        int[][][]? Assignment);

    /// <summary>Writes each layer's <c>[expert] → [pods]</c> on one line.</summary>
    private sealed class CompactLayerConverter : JsonConverter<int[][]>
    {
        public override int[][]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.Null)
            {
                return null;
            }

            if (reader.TokenType != JsonTokenType.StartArray)
            {
                throw new JsonException("each layer of 'assignment' must be an array of arrays of pod ids");
            }

            var layer = new List<int[]>();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw new JsonException("each expert of 'assignment' must be an array of pod ids");
                }

                var pods = new List<int>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var pod))
                    {
                        throw new JsonException("pod ids in 'assignment' must be whole numbers");
                    }

                    pods.Add(pod);
                }

                layer.Add(pods.ToArray());
            }

            return layer.ToArray();
        }

        public override void Write(Utf8JsonWriter writer, int[][] value, JsonSerializerOptions options) =>
            writer.WriteRawValue(JsonSerializer.Serialize(value), skipInputValidation: true);
    }
}
