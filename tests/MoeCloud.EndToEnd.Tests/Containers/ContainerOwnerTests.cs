using System.Diagnostics;
using MoeCloud.Cli.Cluster;
using MoeCloud.Testing;

namespace MoeCloud.EndToEnd.Tests.Containers;

/// <summary>
/// A container cluster started by a moectl that is killed outright (SIGKILL), which cannot remove what it started: its
/// containers and network carry its owner label, and its watchdog removes them.
/// </summary>
[Collection(ContainerCollection.Name)]
public sealed class ContainerOwnerTests
{
    [ContainerFact]
    public async Task ContainerCluster_WhenMoectlIsKilledOutright_ItsContainersAndNetworkAreRemoved()
    {
        using var temp = new TempDirectory();
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "MoeCloud.Cli"))
        {
            WorkingDirectory = temp.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "bench", "chaos", "--mode", "containers", "--scenario", "kill", "--seconds", "300", "--image-tag", ContainerImages.Tag })
        {
            start.ArgumentList.Add(a);
        }

        using var moectl = Process.Start(start)!;
        moectl.OutputDataReceived += (_, _) => { };
        moectl.ErrorDataReceived += (_, _) => { };
        moectl.BeginOutputReadLine();
        moectl.BeginErrorReadLine();
        var owner = $"{ContainerOwner.Label}={ContainerOwner.Of(moectl.Id)}";
        try
        {
            // Redis, 3 silos and the gateway: every container the cluster starts is up (bounded polling).
            for (var i = 0; i < 360 && Owned("ps", owner).Length < 5 && !moectl.HasExited; i++)
            {
                await Task.Delay(500);
            }

            Assert.False(moectl.HasExited, "moectl exited before its containers started");
            Assert.Equal(5, Owned("ps", owner).Length);
            Assert.Single(Owned("network", owner));

            moectl.Kill(); // SIGKILL: no dispose, no cleanup of its own

            for (var i = 0; i < 120 && (Owned("ps", owner).Length > 0 || Owned("network", owner).Length > 0); i++)
            {
                await Task.Delay(500);
            }

            Assert.Empty(Owned("ps", owner));
            Assert.Empty(Owned("network", owner));
        }
        finally
        {
            if (!moectl.HasExited)
            {
                moectl.Kill();
            }

            // Whatever the outcome, nothing of this test's is left behind.
            foreach (var id in Owned("ps", owner))
            {
                ContainerImages.Run("podman", "rm", "--force", "--time", "0", id);
            }

            foreach (var network in Owned("network", owner))
            {
                ContainerImages.Run("podman", "network", "rm", "--force", network);
            }
        }
    }

    [ContainerFact]
    public async Task Sweep_WhenAnOwnerIsGone_RemovesItsContainersAndNetworkAndKeepsALiveOwnersOnes()
    {
        var gone = $"{ContainerOwner.Label}=999999999:1"; // no such pid
        var live = $"{ContainerOwner.Label}={ContainerOwner.Current}";
        var suffix = Guid.NewGuid().ToString("N")[..8];
        try
        {
            foreach (var (owner, name) in new[] { (gone, $"moecloud-gone-{suffix}"), (live, $"moecloud-live-{suffix}") })
            {
                Assert.NotNull(ContainerImages.Run("podman", "network", "create", "--label", owner, name));
                Assert.NotNull(ContainerImages.Run("podman", "run", "--detach", "--label", owner, "--network", name, ContainerImages.Redis, "redis-server", "--save", ""));
            }

            var removed = await ContainerOwner.Sweep(CancellationToken.None);

            Assert.Equal(2, removed.Count);
            Assert.Empty(Owned("ps", gone));
            Assert.Empty(Owned("network", gone));
            Assert.Single(Owned("ps", live));
            Assert.Single(Owned("network", live));
        }
        finally
        {
            foreach (var owner in new[] { gone, live })
            {
                Owned("ps", owner).ToList().ForEach(id => ContainerImages.Run("podman", "rm", "--force", "--time", "0", id));
                Owned("network", owner).ToList().ForEach(n => ContainerImages.Run("podman", "network", "rm", "--force", n));
            }
        }
    }

    /// <summary>The containers (<c>ps</c>) or networks (<c>network</c>) with label <paramref name="label"/>.</summary>
    private static string[] Owned(string what, string label)
    {
        var output = what == "ps"
            ? ContainerImages.Run("podman", "ps", "--all", "--quiet", "--filter", $"label={label}")
            : ContainerImages.Run("podman", "network", "ls", "--quiet", "--filter", $"label={label}");
        return (output ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
