namespace MoeCloud.Model.Spec;

/// <summary>A model <c>config.json</c> is unreadable, unsupported or contradictory. <see cref="ConfigPath"/> names it.</summary>
public sealed class ModelConfigException : IOException
{
    /// <summary>Creates the exception for <paramref name="source"/>.</summary>
    public ModelConfigException(string source, string problem, Exception? inner = null)
        : base($"{source}: {problem}", inner)
    {
        ConfigPath = source;
        Problem = problem;
    }

    /// <summary>The file (or text source) that is wrong.</summary>
    public string ConfigPath { get; }

    /// <summary>What is wrong, without the source name.</summary>
    public string Problem { get; }

    /// <summary>The required key that is missing, when that is what is wrong; null otherwise.</summary>
    public string? MissingKey { get; init; }
}
