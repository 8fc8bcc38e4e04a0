namespace MoeCloud.Placement.Solvers;

/// <summary>How a solve ended. Solvers return it; they do not throw for any of these.</summary>
public enum SolveStatus
{
    /// <summary>Proven optimal for the solver's objective.</summary>
    Optimal,

    /// <summary>A valid plan that the solver did not prove best.</summary>
    Feasible,

    /// <summary>The time limit stopped the search; the plan is the best found so far.</summary>
    TimedOut,

    /// <summary>No plan satisfies the problem; the result says why.</summary>
    Infeasible,
}
