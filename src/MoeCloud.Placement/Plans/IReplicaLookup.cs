namespace MoeCloud.Placement.Plans;

/// <summary>
/// The read side of a plan that the routing rules need (<see cref="Simulation.BestHome"/>,
/// <see cref="Simulation.RemoteReplica"/>): the pods of every (layer, expert). <see cref="PlacementPlan"/> implements it,
/// and so does the runtime's plan snapshot, so that both run the library's rules on their own plan form.
/// </summary>
public interface IReplicaLookup
{
    /// <summary>Pods, numbered 0..PodCount-1.</summary>
    int PodCount { get; }

    /// <summary>The pods holding replicas of (layer, expert): replica index → pod.</summary>
    ReadOnlySpan<int> PodsOf(int layer, int expert);
}
