using System.Globalization;
using MoeCloud.Abstractions;
using MoeCloud.Model.Synthetic;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Hosting;

/// <summary>What a started embedded cluster promises its first caller (a gateway that discovers the pods next).</summary>
public sealed class EmbeddedClusterStartTests
{
    [Fact]
    public async Task Start_ReturnsOnlyOnceEveryPodsAgentAnswersFromItsOwnSilo()
    {
        using var dir = new TempDirectory();

        await using var cluster = await Start(3, dir);

        // The first call, with no retry: a pod whose silo other silos cannot place on yet answers from another silo.
        for (var pod = 0; pod < 3; pod++)
        {
            var described = await cluster.Grains.GetGrain<IPodAgentGrain>(pod.ToString(CultureInfo.InvariantCulture)).Describe();
            Assert.Equal(pod, PodNames.PodOfSiloName(described.SiloName));
        }
    }

    [Fact]
    public async Task WaitPlaceable_WhenAPodHasNoSilo_TimesOutNamingThePodAndWhereItsAgentAnswered()
    {
        using var dir = new TempDirectory();
        await using var cluster = await Start(2, dir);

        var error = await Assert.ThrowsAsync<TimeoutException>(() => cluster.Grains.WaitPlaceable([0, 1, 5], TimeSpan.FromSeconds(1)));

        Assert.Contains("pod 5 (its agent answered from pod-", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pod 0", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pod 1 ", error.Message, StringComparison.Ordinal);
    }

    /// <summary>An embedded cluster of <paramref name="silos"/> silos serving a synthetic <c>tiny</c> written into <paramref name="dir"/>.</summary>
    private static Task<EmbeddedCluster> Start(int silos, TempDirectory dir)
    {
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(dir.Combine("tiny"), spec, vocab, new SyntheticModelOptions { Seed = 3 });
        return EmbeddedCluster.Start(silos, new Dictionary<string, string> { ["tiny"] = dir.Combine("tiny") });
    }
}
