namespace MoeCloud.Operator.Tests.Support;

/// <summary>Paths in the repository checkout the tests run from.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Crds => Path.Combine(Root, "charts", "moecloud", "files", "crds");

    public static string Chart => Path.Combine(Root, "charts", "moecloud");

    public static string Samples => Path.Combine(Root, "operators", "samples");

    public static IEnumerable<string> CrdFiles => Directory.GetFiles(Crds, "*.yaml").Order(StringComparer.Ordinal);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MoeCloud.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no MoeCloud.sln above {AppContext.BaseDirectory}");
    }
}
