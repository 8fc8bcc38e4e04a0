using MoeCloud.Abstractions;
using MoeCloud.Model.Synthetic;
using MoeCloud.Runtime.Grains;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;
using Xunit.Abstractions;

namespace MoeCloud.Runtime.Tests.Plans;

/// <summary>
/// Stopping a whole cluster is not a failure to repair: as its silos leave one by one, the ones still running see the
/// others gone, and the plan registry must not try to re-place their experts through a silo that is itself leaving.
/// </summary>
public sealed class RegistryShutdownTests(ITestOutputHelper output)
{
    private const string Model = "tiny";

    [Fact]
    public async Task ClusterStoppedSiloBySilo_LogsNoFailedOrImpossibleRepair()
    {
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get(Model);
        SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 3 });
        var logs = new TestOutputLogging(output);
        var cluster = await EmbeddedCluster.Start(3, new Dictionary<string, string> { [Model] = dir.Combine(Model) }, TestOutputLogging.Levels, services: logs.AddTo);
        try
        {
            // Every expert on exactly one pod, so a pod that leaves takes the only replicas of a third of them.
            await cluster.Publish(WirePlan.FromAssignment(Model, 1, 3, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % 3]));
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        var registryErrors = logs.Errors.Where(e => e.Contains(typeof(PlanRegistryGrain).FullName!, StringComparison.Ordinal)).ToArray();
        Assert.True(registryErrors.Length == 0, string.Join(Environment.NewLine, registryErrors));
    }
}
