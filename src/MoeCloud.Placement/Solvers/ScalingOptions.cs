namespace MoeCloud.Placement.Solvers;

/// <summary>Settings of <see cref="ScalingPlanner"/>.</summary>
public sealed record ScalingOptions
{
    /// <summary>
    /// Most replicas one pod may hold in one layer (an operator's experts-per-pod limit); null: no limit beyond the
    /// pods' capacities (and one replica of an expert per pod). At least 1 when set.
    /// </summary>
    public int? LayerSlots { get; init; }

    /// <summary>
    /// Capacity in replicas (all layers) of every pod of the next plan; null: live pods keep theirs and new pods get the
    /// largest live capacity. At least 1 when set.
    /// </summary>
    public int? PodCapacity { get; init; }

    /// <summary>
    /// Weight of the remote-fraction gain next to the balance gain when the profile holds sampled tokens (a load-only
    /// profile has no co-activation, so only balance counts). Default 1, in [0, 100].
    /// </summary>
    public double RemoteWeight { get; init; } = 1;

    /// <summary>
    /// A voluntary move may raise its destination's layer load to max(the layer's hottest staying pod,
    /// (1 + slack) × the mean); default 0.02, in [0, 10].
    /// </summary>
    public double LoadSlack { get; init; } = 0.02;

    /// <summary>Sampled tokens homed on a pod may reach (1 + slack) × the mean (as in the ilp solver); default 0.02, in [0, 10].</summary>
    public double HomeSlack { get; init; } = 0.02;

    /// <summary>Clock for the plan's timestamp.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Throws <see cref="ArgumentException"/> naming every out-of-range value.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (LayerSlots is < 1)
        {
            problems.Add($"{nameof(LayerSlots)} must be at least 1 when set (got {LayerSlots})");
        }

        if (PodCapacity is < 1)
        {
            problems.Add($"{nameof(PodCapacity)} must be at least 1 when set (got {PodCapacity})");
        }

        if (!double.IsFinite(RemoteWeight) || RemoteWeight is < 0 or > 100)
        {
            problems.Add($"{nameof(RemoteWeight)} must be in [0, 100] (got {RemoteWeight})");
        }

        if (!double.IsFinite(LoadSlack) || LoadSlack is < 0 or > 10)
        {
            problems.Add($"{nameof(LoadSlack)} must be in [0, 10] (got {LoadSlack})");
        }

        if (!double.IsFinite(HomeSlack) || HomeSlack is < 0 or > 10)
        {
            problems.Add($"{nameof(HomeSlack)} must be in [0, 10] (got {HomeSlack})");
        }

        if (Time is null)
        {
            problems.Add($"{nameof(Time)} must not be null");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems));
        }
    }
}
