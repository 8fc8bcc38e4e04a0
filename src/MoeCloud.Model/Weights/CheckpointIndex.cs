using System.Text.Json;

namespace MoeCloud.Model.Weights;

/// <summary>
/// Which file of a checkpoint directory holds each tensor: from <c>model.safetensors.index.json</c>'s
/// <c>weight_map</c> when present, otherwise from the headers of the directory's <c>*.safetensors</c> files.
/// </summary>
internal static class CheckpointIndex
{
    public const string IndexFile = "model.safetensors.index.json";

    public static Dictionary<string, string> Read(string directory, Func<string, SafetensorsFile> open)
    {
        var indexPath = Path.Combine(directory, IndexFile);
        return File.Exists(indexPath) ? ReadIndex(directory, indexPath) : Scan(directory, open);
    }

    private static Dictionary<string, string> ReadIndex(string directory, string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(indexPath));
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(indexPath, null, $"is not valid JSON ({e.Message})", e);
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointFormatException(indexPath, null, "has no 'weight_map' object");
            }

            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                var file = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()! : "";
                if (file.Length == 0 || Path.GetFileName(file) != file)
                {
                    throw new CheckpointFormatException(indexPath, entry.Name, $"maps to '{entry.Value.GetRawText()}', which is not a file name in the checkpoint directory");
                }

                result[entry.Name] = Path.Combine(directory, file);
            }

            foreach (var missing in result.Values.Distinct().Where(f => !File.Exists(f)))
            {
                throw new CheckpointFormatException(missing, null, $"is named by {IndexFile} but does not exist");
            }

            return result;
        }
    }

    private static Dictionary<string, string> Scan(string directory, Func<string, SafetensorsFile> open)
    {
        var files = Directory.GetFiles(directory, "*.safetensors").Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
        {
            throw new CheckpointFormatException(directory, null, $"holds neither {IndexFile} nor any *.safetensors file");
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var name in open(file).Tensors.Keys)
            {
                if (!result.TryAdd(name, file))
                {
                    throw new CheckpointFormatException(file, name, $"is also in {result[name]}; without an index a tensor must be in one file");
                }
            }
        }

        return result;
    }
}
