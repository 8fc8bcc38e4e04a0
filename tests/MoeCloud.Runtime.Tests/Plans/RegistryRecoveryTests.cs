using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MoeCloud.Abstractions;
using MoeCloud.Model.Synthetic;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Plans;

/// <summary>
/// The plan registry keeps the active plan in memory; its silo leaving (a scale-in stops it gracefully) must not leave
/// the cluster without a plan in effect while every pod still serves one.
/// </summary>
public sealed class RegistryRecoveryTests
{
    private const string Model = "tiny";
    private const int Pods = 3;

    [Fact]
    public async Task GetActive_WhenTheRegistrysSiloStoppedGracefully_ReturnsThePlanThePodsServe()
    {
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get(Model);
        SyntheticModelWriter.Write(dir.Combine(Model), spec, vocab, new SyntheticModelOptions { Seed = 5 });

        // No silo asks for a repair when a member leaves (PlanRepairTrigger hands the registry the plan it serves, which
        // would hide a registry that cannot recover by itself): the recovery must come from the new activation.
        await using var cluster = await EmbeddedCluster.Start(Pods, new Dictionary<string, string> { [Model] = dir.Combine(Model) }, services: (_, s) =>
        {
            foreach (var trigger in s.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(PlanRepairTrigger)).ToArray())
            {
                s.Remove(trigger);
            }
        });
        var v1 = WirePlan.FromAssignment(Model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => [(e + l) % Pods]);
        var v2 = WirePlan.FromAssignment(Model, 2, Pods, spec.MoeLayers, spec.Experts, (l, e) => [(e + l + 1) % Pods]);
        await cluster.Publish(v1);
        await cluster.Publish(v2);

        // The silo that hosts the registry's activation, found through the management grain.
        var management = cluster.Grains.GetGrain<IManagementGrain>(0);
        var stats = await management.GetDetailedGrainStatistics();
        var host = Assert.Single(stats, s => s.GrainType.Contains(nameof(MoeCloud.Runtime.Grains.PlanRegistryGrain), StringComparison.Ordinal) && s.GrainId.Key.ToString() == Model).SiloAddress;
        var hostSilo = cluster.Silos.Single(s => s.App.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.Equals(host));
        var survivor = cluster.Silos.First(s => s != hostSilo);

        await hostSilo.App.StopAsync();

        var registry = survivor.App.Services.GetRequiredService<IGrainFactory>().GetGrain<IPlanRegistryGrain>(Model);
        var active = await registry.GetActive();
        Assert.NotNull(active);
        Assert.Equal(2, active.Version);
        Assert.Equal(v2.ToPlacement().PodsOf(0, 0).ToArray(), active.ToPlacement().PodsOf(0, 0).ToArray());
        Assert.Equal(2, (await registry.GetStatus()).ActiveVersion);

        // The recovered registry rolls the next version out from it (a version that is not newer is refused).
        await Assert.ThrowsAsync<ArgumentException>(() => registry.Publish(v1, RolloutPolicy.Default));
    }
}
