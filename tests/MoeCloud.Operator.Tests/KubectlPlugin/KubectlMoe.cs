using System.Diagnostics;
using MoeCloud.Operator.Tests.Support;
using MoeCloud.Testing;

namespace MoeCloud.Operator.Tests.KubectlPlugin;

/// <summary>
/// The real kubectl with moectl installed as its plugin: <c>moectl kube install-plugin</c> links <c>kubectl-moe</c> into a
/// directory that is put first on kubectl's PATH, as a user does.
/// </summary>
internal sealed class KubectlMoe : IDisposable
{
    private readonly TempDirectory _dir = new();

    private KubectlMoe(string kubeconfig) => Kubeconfig = kubeconfig;

    /// <summary>The kubeconfig passed as $KUBECONFIG (null: none, and an empty HOME).</summary>
    public string? Kubeconfig { get; }

    /// <summary>The directory holding the kubectl-moe link.</summary>
    public string PluginDirectory => _dir.Combine("bin");

    /// <summary>moectl's apphost beside the tests (the build output of src/MoeCloud.Cli).</summary>
    public static string Moectl => Path.Combine(AppContext.BaseDirectory, "MoeCloud.Cli");

    /// <summary>Installs the plugin with <c>moectl kube install-plugin</c>; a failure fails the test.</summary>
    public static async Task<KubectlMoe> InstallAsync(string kubeconfig)
    {
        var plugin = new KubectlMoe(kubeconfig);
        Directory.CreateDirectory(plugin.PluginDirectory);
        Directory.CreateDirectory(plugin._dir.Combine("home"));
        var (code, _, stderr) = await plugin.RunAsync(Moectl, ["kube", "install-plugin", "--dir", plugin.PluginDirectory]);
        Assert.True(code == 0, $"moectl kube install-plugin failed ({code}): {stderr}");
        return plugin;
    }

    /// <summary>Runs <c>kubectl moe …</c>.</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> MoeAsync(params string[] args) => RunAsync(KubeTools.Kubectl!, ["moe", .. args]);

    /// <summary>Runs <c>kubectl moe …</c> with no kubeconfig anywhere (no $KUBECONFIG, an empty HOME).</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> MoeWithoutKubeconfigAsync(params string[] args) => RunAsync(KubeTools.Kubectl!, ["moe", .. args], kubeconfig: false);

    /// <summary>Runs kubectl (or any tool) with the plugin directory first on the PATH.</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string tool, IEnumerable<string> args, bool kubeconfig = true)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["PATH"] = PluginDirectory + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH");
        start.Environment["HOME"] = _dir.Combine("home");
        start.Environment.Remove("KUBECONFIG");
        if (kubeconfig && Kubeconfig is not null)
        {
            start.Environment["KUBECONFIG"] = Kubeconfig;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {tool}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public void Dispose() => _dir.Dispose();
}
