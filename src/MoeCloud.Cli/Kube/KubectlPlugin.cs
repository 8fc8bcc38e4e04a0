namespace MoeCloud.Cli.Kube;

/// <summary>
/// moectl as the kubectl plugin <c>kubectl moe</c>: kubectl runs the executable <c>kubectl-moe</c> it finds on the PATH
/// with the words after <c>moe</c>, so a moectl started under that name runs its <c>kube …</c> commands.
/// </summary>
public static class KubectlPlugin
{
    /// <summary>The executable name kubectl looks for on the PATH.</summary>
    public const string ExecutableName = "kubectl-moe";

    /// <summary>The moectl command group the plugin's words select.</summary>
    public const string CommandGroup = "kube";

    /// <summary>
    /// The moectl arguments of a process started as <paramref name="invokedAs"/> (its argv[0]) with <paramref name="args"/>:
    /// <c>kube</c> prepended when the name is <see cref="ExecutableName"/> (any directory, any extension), else unchanged.
    /// </summary>
    public static IReadOnlyList<string> Arguments(string? invokedAs, IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var name = string.IsNullOrEmpty(invokedAs) ? "" : Path.GetFileNameWithoutExtension(invokedAs);
        return name == ExecutableName ? [CommandGroup, .. args] : args;
    }

    /// <summary>
    /// The name this process was started under. On Linux that is argv[0] from /proc/self/cmdline, which keeps the name
    /// of a symlink (kubectl passes the plugin's path as argv[0]); elsewhere, the executable's path.
    /// </summary>
    public static string? InvokedAs()
    {
        const string cmdline = "/proc/self/cmdline";
        if (OperatingSystem.IsLinux() && File.Exists(cmdline))
        {
            var text = File.ReadAllText(cmdline);
            var end = text.IndexOf('\0', StringComparison.Ordinal);
            return end >= 0 ? text[..end] : text;
        }

        return Environment.ProcessPath;
    }

    /// <summary>
    /// Makes <c>kubectl moe</c> work: writes <paramref name="directory"/>/<see cref="ExecutableName"/> as a symlink to
    /// <paramref name="moectl"/> (the running moectl executable). An existing symlink of that name is replaced; any other
    /// file of that name is left alone and reported. Returns the link's path.
    /// </summary>
    public static string Install(string directory, string moectl)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(moectl);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"no directory '{directory}'");
        }

        var link = Path.Combine(Path.GetFullPath(directory), ExecutableName + (OperatingSystem.IsWindows() ? ".exe" : ""));
        var existing = new FileInfo(link);
        if (existing.Exists || existing.LinkTarget is not null)
        {
            if (existing.LinkTarget is null)
            {
                throw new IOException($"'{link}' exists and is not a symlink; remove it first");
            }

            existing.Delete();
        }

        File.CreateSymbolicLink(link, moectl);
        return link;
    }
}
