using MoeCloud.Placement.Simulation;

namespace MoeCloud.Placement.Plans;

/// <summary>Everything about a plan except its assignment.</summary>
public sealed record PlanMetadata
{
    /// <summary>Plan version (1 for a fresh plan; an incremental plan is its live plan's version + 1).</summary>
    public int Version { get; init; } = 1;

    /// <summary>When the plan was made (UTC).</summary>
    public DateTimeOffset CreatedUtc { get; init; }

    /// <summary>The solver's name: contiguous, eplb or ilp.</summary>
    public string Solver { get; init; } = "";

    /// <summary>The profile's name (trace name or dump file).</summary>
    public string ProfileName { get; init; } = "";

    /// <summary><see cref="Profiles.WorkloadProfile.Fingerprint"/> of the fitting profile.</summary>
    public string ProfileFingerprint { get; init; } = "";

    /// <summary>Seed the solver used.</summary>
    public int Seed { get; init; }

    /// <summary>How the solve went, when known.</summary>
    public SolveSummary? Solve { get; init; }

    /// <summary>
    /// Metrics predicted by the simulator on the fitting profile's token sample, when it has one (or a replay's, with its
    /// link time, when written by <c>moectl simulate --write-plan</c>).
    /// </summary>
    public SimulationMetrics? Predicted { get; init; }
}
