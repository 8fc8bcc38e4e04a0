using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Placement;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Serving;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// The agent of one pod, placed on the pod's silo: adopts plan versions into the silo's <see cref="SiloPlanState"/>,
/// and tells the gateway where the silo serves.
/// </summary>
[PodPlacement]
public sealed class PodAgentGrain(SiloPlanState state, ILocalSiloDetails silo, ModelCatalog catalog, IOptions<MoeCloudSiloOptions> options) : Grain, IPodAgentGrain
{
    /// <inheritdoc />
    public Task<string> Adopt(WirePlan plan)
    {
        state.Adopt(ServingPlan.From(plan));
        return Task.FromResult(silo.Name);
    }

    /// <inheritdoc />
    public Task<WirePlan?> Served(string model)
    {
        if (Misplaced())
        {
            // Placed by the fallback on another pod's silo (a silo that joined moments ago may not be a placement
            // target yet): it says nothing, and moves to the pod's silo when it can (MisplacedMovesOn).
            MisplacedMovesOn();
            return Task.FromResult<WirePlan?>(null);
        }

        return Task.FromResult(state.Get(model)?.Document);
    }

    /// <inheritdoc />
    public Task<int> Drain(string model, int version, TimeSpan timeout) =>
        state.WaitDrained(model, version, timeout, TimeSpan.FromMilliseconds(20), TimeProvider.System);

    /// <inheritdoc />
    public Task<PodEndpoints> Describe()
    {
        if (Misplaced())
        {
            MisplacedMovesOn(); // placed by the fallback while the pod was away
        }

        // The address the other silos reach this one at: the pod IP in Kubernetes, loopback in a local cluster.
        var address = silo.SiloAddress.Endpoint.Address;
        var host = address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        if (IPAddress.Any.Equals(address) || IPAddress.IPv6Any.Equals(address))
        {
            host = options.Value.AdvertisedAddress;
        }

        return Task.FromResult(new PodEndpoints(
            silo.Name,
            string.Create(CultureInfo.InvariantCulture, $"http://{host}:{options.Value.RunnerPort}"),
            string.Create(CultureInfo.InvariantCulture, $"http://{host}:{options.Value.OpsPort}"))
        {
            ExpertBackend = catalog.ExpertBackend,
        });
    }

    /// <summary>
    /// Moves this misplaced agent once it is idle: placed again by <see cref="PodPlacementDirector"/>, it goes to its
    /// pod's silo when that silo is a placement target by now, and otherwise deactivates (the next call tries again).
    /// A plain deactivation is not enough: callers keep this silo's address, and a call that reaches a silo without
    /// the activation creates it there again, with no placement, for as long as they do. A migration registers the
    /// new address in the grain directory, which those calls are then forwarded to.
    /// </summary>
    private void MisplacedMovesOn() => MigrateOnIdle();

    /// <summary>Whether this agent runs on another pod's silo than the pod its key names.</summary>
    private bool Misplaced() => !PodPlacementDirector.TryGetPod(this.GetPrimaryKeyString(), out var pod) || PodNames.PodOfSiloName(silo.Name) != pod;
}
