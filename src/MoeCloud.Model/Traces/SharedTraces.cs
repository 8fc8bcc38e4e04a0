namespace MoeCloud.Model.Traces;

/// <summary>
/// Finds the real routing traces that sit beside a checkout in <c>../shared/traces</c> (or wherever
/// <c>MOECLOUD_SHARED_TRACES</c> points). They are never copied into the repository.
/// </summary>
public static class SharedTraces
{
    /// <summary>The environment variable that overrides the search.</summary>
    public const string EnvironmentVariable = "MOECLOUD_SHARED_TRACES";

    /// <summary>
    /// The shared traces folder: the environment variable when set, else the first <c>shared/traces</c> found in the
    /// current directory, the application's directory or any of their ancestors; null when there is none.
    /// </summary>
    public static string? Locate()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            return Directory.Exists(fromEnv) ? Path.GetFullPath(fromEnv) : null;
        }

        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "traces");
                if (Directory.Exists(candidate) && File.Exists(Path.Combine(candidate, "README.md")))
                {
                    return candidate;
                }
            }
        }

        return null;
    }

    /// <summary>The trace directories (those with a manifest) inside the shared folder, sorted by name; empty when absent.</summary>
    public static IReadOnlyList<string> All()
    {
        var root = Locate();
        return root is null
            ? []
            : Directory.GetDirectories(root).Where(d => File.Exists(Path.Combine(d, TraceDirectory.ManifestFile))).Order(StringComparer.Ordinal).ToArray();
    }
}
