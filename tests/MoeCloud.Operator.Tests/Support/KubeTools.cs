using System.Diagnostics;

namespace MoeCloud.Operator.Tests.Support;

/// <summary>The real helm and kubectl binaries: $MOECLOUD_HELM / $MOECLOUD_KUBECTL, else .tools/bin (infra/lib/deps.sh puts them there).</summary>
public static class KubeTools
{
    public static string? Helm => Find("MOECLOUD_HELM", "helm");

    public static string? Kubectl => Find("MOECLOUD_KUBECTL", "kubectl");

    public const string Missing = "is not installed: run `source infra/lib/deps.sh && moecloud_install_kube_tools` (infra/test.sh does)";

    /// <summary>Runs a tool to completion (bounded by <paramref name="timeout"/>) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string tool, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = Path.Combine(Path.GetTempPath(), "moecloud-tests-home");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static string? Find(string variable, string name)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(fromEnvironment) && File.Exists(fromEnvironment))
        {
            return fromEnvironment;
        }

        var local = Path.Combine(RepoPaths.Root, ".tools", "bin", name);
        return File.Exists(local) ? local : null;
    }
}

/// <summary>A fact that needs the real kubectl; skipped with a clear reason when it is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class KubectlFactAttribute : FactAttribute
{
    public KubectlFactAttribute()
    {
        if (KubeTools.Kubectl is null)
        {
            Skip = "kubectl " + KubeTools.Missing;
        }
    }
}

/// <summary>A fact that needs the real helm; skipped with a clear reason when it is not installed.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class HelmFactAttribute : FactAttribute
{
    public HelmFactAttribute()
    {
        if (KubeTools.Helm is null)
        {
            Skip = "helm " + KubeTools.Missing;
        }
    }
}
