using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Solvers;

/// <summary>A placement solver. Bad input throws <see cref="ArgumentException"/>; every solve outcome is a result.</summary>
public interface IPlacementSolver
{
    /// <summary>The solver's name (contiguous, eplb, ilp).</summary>
    string Name { get; }

    /// <summary>Places <paramref name="problem"/>; reports progress lines to <paramref name="progress"/>.</summary>
    PlacementResult Solve(PlacementProblem problem, IProgress<string>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>A solve's outcome: a plan unless <see cref="Status"/> is <see cref="SolveStatus.Infeasible"/>.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Plan">The plan (null when infeasible).</param>
/// <param name="Summary">Objective, bound, time and a note (for an infeasible problem: why).</param>
public sealed record PlacementResult(SolveStatus Status, PlacementPlan? Plan, SolveSummary Summary)
{
    /// <summary>An infeasible outcome with its reason.</summary>
    public static PlacementResult Infeasible(string why) => new(SolveStatus.Infeasible, null, new SolveSummary(SolveStatus.Infeasible, 0, null, 0, why));
}

/// <summary>The solvers by name.</summary>
public static class PlacementSolvers
{
    /// <summary>Solver names, in CLI order.</summary>
    public static readonly IReadOnlyList<string> Names = ["contiguous", "eplb", "ilp"];

    /// <summary>The solver called <paramref name="name"/>; <see cref="ArgumentException"/> for an unknown name.</summary>
    public static IPlacementSolver Create(string name, IlpOptions? ilp = null) => name switch
    {
        "contiguous" => new ContiguousSolver(),
        "eplb" => new EplbSolver(),
        "ilp" => new IlpSolver(ilp ?? new IlpOptions()),
        _ => throw new ArgumentException($"unknown solver '{name}' (known: {string.Join(", ", Names)}).", nameof(name)),
    };
}
