using MoeCloud.Model.Spec;

namespace MoeCloud.Cli.Commands;

/// <summary>The <c>--model</c> of the engine interop commands: a checkpoint directory (or its <c>config.json</c>).</summary>
internal static class EngineModel
{
    /// <summary>The spec of <paramref name="path"/>, or null when no <c>--model</c> was given.</summary>
    public static ModelSpec? Read(string? path)
    {
        if (path is null)
        {
            return null;
        }

        var config = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(config))
        {
            throw new FileNotFoundException($"{config}: --model needs a checkpoint directory with a config.json (or the config.json itself)", config);
        }

        return ModelSpec.FromHuggingFaceConfig(config);
    }
}
