using Google.OrTools.Sat;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// One layer's placement as a CP-SAT model, the other layers and the token homes fixed:
/// x[e, p] ∈ {0, 1} (a replica of expert e on pod p);
/// Σ_p x[e, p] = r_e (its replica count, at most one per pod); Σ_e x[e, p] = s_p (the pod's slots in this layer);
/// Σ_e w[e, p] · x[e, p] ≤ cap (w[e, p] = the load a replica of e on p is expected to serve, see
/// <see cref="IlpOptions.ConcentrationAwareLoads"/>; cap = (1 + slack) × mean pod load, raised to what EPLB's packing
/// reaches when that is higher, so the model is never infeasible);
/// maximise Σ a[e, p] · x[e, p] with a = affinity (dispatches that would be local). Warm-started from the current
/// assignment (AddHint); one worker, a fixed seed and a deterministic time limit make it reproducible.
/// With resampled caps (<see cref="ResampledCaps"/>, <see cref="IlpOptions.Resamples"/> B): one more variable z_b per
/// resample, z_b ≥ cap and z_b ≥ Σ_e w_b[e, p] · x[e, p] for every pod p (z_b is the resample's most loaded pod, or the
/// cap when none exceeds it), and the objective becomes B · Σ a · x − penalty · Σ_b (z_b − cap): the expected excess of
/// the most loaded pod over the cap under a shifted workload costs locality, so balance is kept where the workload
/// varies, not only on the fitted loads.
/// </summary>
internal static class LayerSubproblem
{
    /// <summary>The outcome: the assignment (<c>[expert] → pods</c>), its objective and CP-SAT's bound.</summary>
    public sealed record Outcome(int[][] Assignment, long Objective, long Bound, bool Optimal);

    public static Outcome? Solve(long[] affinity, long[] weight, int[] counts, int[] slots, long cap, int[][] hint, int seed, double deterministicSeconds, int workers, int maxMoves = -1, ResampledCaps? robust = null)
    {
        int experts = counts.Length, pods = slots.Length;
        var model = new CpModel();
        var x = new BoolVar[experts, pods];
        for (var e = 0; e < experts; e++)
        {
            for (var p = 0; p < pods; p++)
            {
                x[e, p] = model.NewBoolVar($"x{e}_{p}");
                model.AddHint(x[e, p], hint[e].Contains(p));
            }
        }

        for (var e = 0; e < experts; e++)
        {
            model.Add(LinearExpr.Sum(Enumerable.Range(0, pods).Select(p => x[e, p])) == counts[e]);
        }

        for (var p = 0; p < pods; p++)
        {
            var column = Enumerable.Range(0, experts).Select(e => x[e, p]).ToArray();
            model.Add(LinearExpr.Sum(column) == slots[p]);
            model.Add(LinearExpr.WeightedSum(column, Enumerable.Range(0, experts).Select(e => weight[(e * pods) + p])) <= cap);
        }

        if (maxMoves >= 0)
        {
            // Moves: replicas on pods where the hint (the live layer) has none.
            var moved = new List<BoolVar>();
            for (var e = 0; e < experts; e++)
            {
                moved.AddRange(Enumerable.Range(0, pods).Where(p => !hint[e].Contains(p)).Select(p => x[e, p]));
            }

            model.Add(LinearExpr.Sum(moved) <= maxMoves);
        }

        var all = new List<IntVar>(experts * pods);
        var coefficients = new List<long>(experts * pods);
        var scale = robust is null ? 1 : robust.Weights.Length;
        for (var e = 0; e < experts; e++)
        {
            for (var p = 0; p < pods; p++)
            {
                all.Add(x[e, p]);
                coefficients.Add(affinity[(e * pods) + p] * scale);
            }
        }

        long offset = 0;
        if (robust is not null)
        {
            AddResampledCaps(model, x, robust, all, coefficients);
            offset = robust.Penalty * robust.Cap * robust.Weights.Length;
        }

        model.Maximize(LinearExpr.WeightedSum(all, coefficients) + offset);
        var solver = new CpSolver
        {
            StringParameters = string.Create(
                System.Globalization.CultureInfo.InvariantCulture,
                $"num_workers:{workers},random_seed:{seed},max_deterministic_time:{deterministicSeconds},log_search_progress:false,catch_sigint_signal:false"),
        };
        var status = solver.Solve(model);
        if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible))
        {
            return null;
        }

        var assignment = new int[experts][];
        for (var e = 0; e < experts; e++)
        {
            assignment[e] = Enumerable.Range(0, pods).Where(p => solver.BooleanValue(x[e, p])).ToArray();
        }

        return new Outcome(assignment, (long)Math.Round(solver.ObjectiveValue), (long)Math.Round(solver.BestObjectiveBound), status == CpSolverStatus.Optimal);
    }

    private static void AddResampledCaps(CpModel model, BoolVar[,] x, ResampledCaps robust, List<IntVar> terms, List<long> coefficients)
    {
        int experts = x.GetLength(0), pods = x.GetLength(1);
        for (var b = 0; b < robust.Weights.Length; b++)
        {
            var w = robust.Weights[b];
            long most = robust.Cap;
            for (var p = 0; p < pods; p++)
            {
                long sum = 0;
                for (var e = 0; e < experts; e++)
                {
                    sum += w[(e * pods) + p];
                }

                most = Math.Max(most, sum);
            }

            var z = model.NewIntVar(robust.Cap, most, $"z{b}");
            for (var p = 0; p < pods; p++)
            {
                var column = Enumerable.Range(0, experts).Select(e => x[e, p]).ToArray();
                model.Add(LinearExpr.WeightedSum(column, Enumerable.Range(0, experts).Select(e => w[(e * pods) + p])) <= z);
            }

            terms.Add(z);
            coefficients.Add(-robust.Penalty);
        }
    }
}
