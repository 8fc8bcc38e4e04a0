using MoeCloud.Cli.Kube;

namespace MoeCloud.Cli.Tests.Commands;

public sealed class KubectlPluginTests
{
    [Theory]
    [InlineData("/home/u/.krew/bin/kubectl-moe")]
    [InlineData("kubectl-moe")]
    [InlineData(@"C:\tools\kubectl-moe.exe")]
    public void Arguments_WhenInvokedAsKubectlMoe_PrependsKube(string invokedAs) =>
        Assert.Equal(["kube", "status", "lite"], KubectlPlugin.Arguments(invokedAs.Replace('\\', Path.DirectorySeparatorChar), ["status", "lite"]));

    [Theory]
    [InlineData("/usr/bin/moectl")]
    [InlineData("dotnet")]
    [InlineData("/opt/kubectl-moe-old")]
    [InlineData(null)]
    public void Arguments_WhenInvokedUnderAnotherName_LeavesThemAlone(string? invokedAs) =>
        Assert.Equal(["status", "lite"], KubectlPlugin.Arguments(invokedAs, ["status", "lite"]));

    [Fact]
    public void Install_WhenRegularFileHasTheName_RefusesAndKeepsIt()
    {
        using var dir = new MoeCloud.Testing.TempDirectory();
        Directory.CreateDirectory(dir.Path);
        var file = dir.Combine(KubectlPlugin.ExecutableName);
        File.WriteAllText(file, "mine");

        var error = Assert.Throws<IOException>(() => KubectlPlugin.Install(dir.Path, "/usr/bin/moectl"));
        Assert.Contains("is not a symlink", error.Message, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(file));
    }

    [Fact]
    public void Install_WhenLinkExists_ReplacesItWithALinkToMoectl()
    {
        using var dir = new MoeCloud.Testing.TempDirectory();
        Directory.CreateDirectory(dir.Path);
        File.CreateSymbolicLink(dir.Combine(KubectlPlugin.ExecutableName), "/old/moectl");

        var link = KubectlPlugin.Install(dir.Path, "/usr/bin/moectl");

        Assert.Equal("/usr/bin/moectl", new FileInfo(link).LinkTarget);
    }
}
