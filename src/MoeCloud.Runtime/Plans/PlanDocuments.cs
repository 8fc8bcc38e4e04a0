using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Runtime.Plans;

/// <summary>Converts a placement plan (the solvers' output, <c>moectl plan</c>'s JSON) into the runtime's wire form.</summary>
public static class PlanDocuments
{
    /// <summary>The wire form of <paramref name="plan"/> for <paramref name="model"/>, at <paramref name="version"/> (default: the plan's).</summary>
    public static PlanDocument FromPlacement(string model, PlacementPlan plan, int? version = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return PlanSnapshot.ToDocument(model, version ?? plan.Info.Version, plan.PodCount, plan.Layers, plan.Experts, (l, e) => plan.PodsOf(l, e).ToArray());
    }
}
