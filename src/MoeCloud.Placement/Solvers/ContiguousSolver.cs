using System.Diagnostics;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// The baseline of Megatron/DeepSpeed/vLLM/SGLang without load balancing: in every layer, replicas are laid out in
/// expert order over the pods' slots (expert e on pod ⌊e·G/E⌋ when slots are even). Redundant replicas, if asked
/// for, copy experts chosen without regard to load (evenly spaced ids) and go to the first pod with a free slot that
/// lacks that expert.
/// </summary>
public sealed class ContiguousSolver : IPlacementSolver
{
    /// <inheritdoc />
    public string Name => "contiguous";

    /// <inheritdoc />
    public PlacementResult Solve(PlacementProblem problem, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var watch = Stopwatch.StartNew();
        var layout = SlotLayout.ComputeOrExplain(problem, out var infeasible);
        if (layout is null)
        {
            return infeasible!;
        }

        int experts = problem.Profile.Experts, redundant = problem.Redundant;
        var assignment = new int[problem.Profile.Layers][][];
        for (var l = 0; l < assignment.Length; l++)
        {
            var free = (int[])layout[l].Clone();
            var placed = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
            var pod = 0;
            for (var e = 0; e < experts; e++)
            {
                while (free[pod] == 0)
                {
                    pod++;
                }

                placed[e].Add(pod);
                free[pod]--;
            }

            for (var r = 0; r < redundant; r++)
            {
                // The evenly spaced expert, or the next one (cyclically) that some pod with a free slot lacks.
                var start = (int)((long)r * experts / Math.Max(redundant, 1));
                var (e, target) = Enumerable.Range(0, experts)
                    .Select(i => (start + i) % experts)
                    .Select(c => (Expert: c, Pod: Enumerable.Range(0, problem.Pods).FirstOrDefault(p => free[p] > 0 && !placed[c].Contains(p), -1)))
                    .First(c => c.Pod >= 0);
                placed[e].Add(target);
                free[target]--;
            }

            assignment[l] = placed.Select(p => p.ToArray()).ToArray();
        }

        return PlanBuilder.Result(problem, Name, assignment, SolveStatus.Feasible, objective: 0, bound: null, watch.Elapsed, "experts in id order");
    }
}
