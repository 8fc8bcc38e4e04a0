using MoeCloud.Abstractions;
using MoeCloud.Runtime.Placement;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Grains;

/// <summary>The plan agent of one pod, placed on the pod's silo: adopts plan versions into the silo's <see cref="SiloPlanState"/>.</summary>
[PodPlacement]
public sealed class PodAgentGrain(SiloPlanState state, ILocalSiloDetails silo) : Grain, IPodAgentGrain
{
    /// <inheritdoc />
    public Task<string> Adopt(PlanDocument plan)
    {
        state.Adopt(PlanSnapshot.From(plan));
        return Task.FromResult(silo.Name);
    }
}
