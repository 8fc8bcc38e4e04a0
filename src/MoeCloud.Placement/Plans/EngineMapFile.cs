using System.Text;
using System.Text.Json;

namespace MoeCloud.Placement.Plans;

/// <summary>
/// The JSON file of a physical-to-logical map: <c>{"physical_to_logical_map": [layer][physical expert] → logical
/// expert}</c>, one layer per line, and no other key (SGLang passes the file's keys to
/// <c>ExpertLocationMetadata.init_by_mapping</c> as arguments, so any other key fails its start-up). Loading checks the
/// structure and names the file and the field; <see cref="PhysicalExpertMap.ToPlan"/> checks the values.
/// </summary>
public static class EngineMapFile
{
    /// <summary>The one key of the file.</summary>
    public const string Key = "physical_to_logical_map";

    /// <summary>Writes <paramref name="map"/> to <paramref name="path"/> (through a temporary file).</summary>
    public static void Save(string path, IReadOnlyList<int[]> map)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp";
        File.WriteAllText(temp, ToJson(map));
        File.Move(temp, full, overwrite: true);
    }

    /// <summary>The file's text for <paramref name="map"/>.</summary>
    public static string ToJson(IReadOnlyList<int[]> map)
    {
        ArgumentNullException.ThrowIfNull(map);
        var text = new StringBuilder("{\n  \"").Append(Key).Append("\": [\n");
        for (var l = 0; l < map.Count; l++)
        {
            text.Append("    ").Append(JsonSerializer.Serialize(map[l])).Append(l + 1 < map.Count ? ",\n" : "\n");
        }

        return text.Append("  ]\n}\n").ToString();
    }

    /// <summary>Reads the map at <paramref name="path"/>: <c>[layer][physical expert]</c>; throws <see cref="PlanFormatException"/>.</summary>
    public static int[][] Load(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PlanFormatException(path, $"cannot be read ({e.Message})", e);
        }
        catch (JsonException e)
        {
            throw new PlanFormatException(path, $"is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(Key, out var map))
            {
                throw new PlanFormatException(path, $"has no '{Key}' key (expected {{\"{Key}\": [layers][physical experts]}})");
            }

            var other = root.EnumerateObject().Select(p => p.Name).FirstOrDefault(n => n != Key);
            if (other is not null)
            {
                throw new PlanFormatException(path, $"has key '{other}' besides '{Key}'; SGLang's init_by_mapping accepts no other key");
            }

            if (map.ValueKind != JsonValueKind.Array || map.GetArrayLength() == 0)
            {
                throw new PlanFormatException(path, $"'{Key}' must be a non-empty array of layers");
            }

            var rows = new int[map.GetArrayLength()][];
            var l = 0;
            foreach (var layer in map.EnumerateArray())
            {
                if (layer.ValueKind != JsonValueKind.Array)
                {
                    throw new PlanFormatException(path, $"'{Key}' layer {l} is {layer.ValueKind}, not an array: the map must be [layers][physical experts]");
                }

                if (l > 0 && layer.GetArrayLength() != rows[0].Length)
                {
                    throw new PlanFormatException(path, $"'{Key}' layer {l} has {layer.GetArrayLength()} physical experts, layer 0 has {rows[0].Length}");
                }

                var row = new int[layer.GetArrayLength()];
                var i = 0;
                foreach (var cell in layer.EnumerateArray())
                {
                    if (cell.ValueKind != JsonValueKind.Number || !cell.TryGetInt32(out row[i]) || row[i] < 0)
                    {
                        throw new PlanFormatException(path, $"'{Key}' layer {l}, physical expert {i}: {cell.GetRawText()} is not a logical expert id (a non-negative whole number)");
                    }

                    i++;
                }

                rows[l++] = row;
            }

            return rows;
        }
    }
}
