using System.Globalization;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Solvers;

/// <summary>
/// MoeCloud's solver (MoETuner-style, engineered for scale). The joint model — place every replica and home every
/// token so that most dispatches are local, under per-layer load caps — has a weak bound at scale, so it is solved by
/// decomposition:
/// <list type="number">
/// <item>replica counts by EPLB's rule (the R extra replicas go to the heaviest experts per replica), hedged with
/// resampling: the load each expert counts with is its fitted load + k · its standard deviation over bootstrap
/// resamples of the fitting sequences (<see cref="IlpOptions.HedgeDeviations"/>, <see cref="ResampledLoads"/>);</item>
/// <item>a warm start by greedy co-clustering along the layers (<see cref="WarmStart"/>);</item>
/// <item>alternating sweeps: home the profile's sampled tokens (balanced, best in hindsight, <see cref="TokenHomes"/>),
/// then re-place each layer with the others and the homes fixed, as an exact CP-SAT model
/// (<see cref="LayerSubproblem"/>: maximise local dispatches + λ · adjacent-layer transitions kept on the same pod,
/// under the load cap, less the expected excess over the cap of the most loaded pod in each resample, so that balance
/// survives a shift of the workload; with <see cref="IlpOptions.PodsPerNode"/>, plus a weight for dispatches that stay
/// within the home's node), warm-started from the current layer (a large-neighbourhood step whose neighbourhood is one
/// layer); the even layers first, then the odd ones, each colour's layers side by side (<see cref="IlpOptions.Threads"/>);</item>
/// <item>stop when a sweep no longer increases local dispatches, after <see cref="IlpOptions.Sweeps"/>, or at the
/// wall-clock guard (the problem's time limit; status <see cref="SolveStatus.TimedOut"/>, the best plan so far).</item>
/// </list>
/// Objective = remote fraction of the sampled tokens under balanced best-in-hindsight homes; bound = the lower bound
/// CP-SAT proves on it for the homes of the last sweep. Deterministic for a seed: one CP-SAT worker, a fixed
/// random_seed and a deterministic budget (<see cref="IlpOptions.DeterministicSeconds"/>, split over sweeps and
/// layers), so the work does not depend on the machine; the problem's wall-clock time limit is only a guard, and a
/// solve it stops says so (status <see cref="SolveStatus.TimedOut"/>, "stopped by the wall-clock guard" in the note).
/// A load-only profile has no co-activation to exploit: the solver then returns EPLB's balanced packing and says so.
/// </summary>
public sealed class IlpSolver(IlpOptions options) : IPlacementSolver
{
    private const double Scale = 100;

    /// <inheritdoc />
    public string Name => "ilp";

    /// <inheritdoc />
    public PlacementResult Solve(PlacementProblem problem, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(problem);
        options.Validate();
        // The guard reads the problem's clock (a fake one in tests), so where it cuts can be tested.
        var started = problem.Time.GetTimestamp();
        TimeSpan Elapsed() => problem.Time.GetElapsedTime(started);
        var slots = SlotLayout.ComputeOrExplain(problem, out var infeasible);
        if (slots is null)
        {
            return infeasible!;
        }

        var profile = problem.Profile;
        if (profile.IsLoadOnly || profile.Sample.Tokens == 0)
        {
            progress?.Report("load-only profile: no co-activation statistics, so only expert-load balance can be optimised (EPLB packing)");
            var eplb = new EplbSolver().Solve(problem, progress, cancellationToken);
            return eplb.Plan is null ? eplb : PlanBuilder.Result(problem, Name, eplb.Plan.ToAssignment(), SolveStatus.Feasible, eplb.Summary.Objective, null, Elapsed(), "load-only profile: balance only (EPLB packing)");
        }

        int layers = profile.Layers, experts = profile.Experts, pods = problem.Pods;
        if (options.PodsPerNode > 0 && pods % options.PodsPerNode != 0)
        {
            throw new ArgumentException($"{nameof(IlpOptions.PodsPerNode)} {options.PodsPerNode} does not divide the {pods} pods.", nameof(problem));
        }

        var resampled = options.Resamples > 0 ? ResampledLoads.Create(profile, options.Resamples, problem.Seed) : null;
        var counts = new int[layers][];
        var weight = new long[layers][];
        var caps = new long[layers];
        for (var l = 0; l < layers; l++)
        {
            var load = profile.Load.AsSpan(l * experts, experts);
            counts[l] = resampled is not null && options.HedgeDeviations > 0
                ? Replication.Counts(resampled.RiskLoad(l, options.HedgeDeviations), problem.Redundant, pods)
                : Replication.Counts(load, problem.Redundant, pods);
            weight[l] = new long[experts];
            for (var e = 0; e < experts; e++)
            {
                weight[l][e] = (long)Math.Ceiling((double)load[e] / counts[l][e]);
            }

            caps[l] = Cap(load, counts[l], slots[l], weight[l], options.LoadSlack);
        }

        var packed = new int[layers][][];
        for (var l = 0; l < layers; l++)
        {
            if (Replication.Pack(profile.Load.AsSpan(l * experts, experts), counts[l], slots[l]) is not { } layer)
            {
                return PlacementResult.Infeasible($"layer {l}: balanced packing cannot place every replica in the slots the capacities leave");
            }

            packed[l] = layer;
        }

        var assignment = WarmStart.Build(profile, counts, slots, weight, caps, packed);
        var sample = profile.Sample;
        var total = (long)sample.Tokens * layers * profile.TopK;
        var (homes, local) = TokenHomes.Assign(sample, assignment, pods, options.HomeSlack, options.FirstLayerHomeWeight);
        progress?.Report(Line("warm start", local, total, Elapsed()));
        var best = Copy(assignment);
        long bestLocal = -1;
        long? boundLocal = null;
        // The work is fixed by the options, not by the clock: the time limit below only guards against a slow machine.
        var deterministic = Math.Max(IlpOptions.MinLayerSeconds, options.DeterministicSeconds / (options.Sweeps * layers));
        var transitionScale = options.TransitionWeight * sample.Tokens / Math.Max(1.0, (double)profile.Dispatches / (layers * profile.TopK)) / profile.TopK;
        var sampleToProfile = (double)profile.Dispatches / (layers * profile.TopK) / sample.Tokens;
        var penalty = (long)Math.Round(options.ResampleWeight * Scale / sampleToProfile);
        var robustLoads = penalty > 0 ? resampled : null;
        var robust = robustLoads is not null;
        var timedOut = false;
        var allOptimal = true;
        var sweeps = 0;
        for (var sweep = 1; sweep <= options.Sweeps && !timedOut; sweep++)
        {
            long sweepBound = 0;
            var unsolved = 0;
            var plainFallbacks = 0;

            // Red-black: the even layers, then the odd ones. A layer's model reads only its own homes' affinity and its
            // two neighbours' replicas (the transition term), which the other colour holds, so the layers of one colour
            // are independent and solve side by side; each one's result depends only on its inputs and seed, so the
            // plan is the same on any number of threads.
            var outcomes = new LayerSearch.Result?[layers];
            var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount, CancellationToken = cancellationToken };
            var cut = 0;
            var sweepSeed = problem.Seed + (sweep * layers);
            foreach (var colour in new[] { 0, 1 })
            {
                Parallel.ForEach(Enumerable.Range(0, layers).Where(l => l % 2 == colour), parallel, l =>
                {
                    if (Volatile.Read(ref cut) != 0 || Elapsed() >= problem.TimeLimit)
                    {
                        Volatile.Write(ref cut, 1);
                        return;
                    }

                    var (affinity, pairWeight) = Affinity(profile, sample, homes, assignment, l, pods, transitionScale, weight[l]);
                    var resampledCaps = robustLoads?.Caps(homes, l, counts[l], pods, caps[l], options.ConcentrationAwareLoads, penalty);
                    outcomes[l] = LayerSearch.Solve(affinity, pairWeight, counts[l], slots[l], caps[l], assignment[l], sweepSeed + l, deterministic, options.Workers, resampledCaps);
                    assignment[l] = outcomes[l]!.Assignment;
                });
            }

            timedOut = cut != 0;
            foreach (var outcome in outcomes)
            {
                if (outcome is null)
                {
                    continue; // not reached before the guard
                }

                sweepBound = outcome.Bound == long.MaxValue || sweepBound == long.MaxValue ? long.MaxValue : sweepBound + outcome.Bound;
                allOptimal &= outcome.Optimal;
                unsolved += outcome.Improved ? 0 : 1;
                plainFallbacks += outcome.PlainFallbacks;
            }

            // Every layer update respects the caps, so a sweep cut short by the time limit still gives a valid plan.
            sweeps = sweep;
            (homes, local) = TokenHomes.Assign(sample, assignment, pods, options.HomeSlack, options.FirstLayerHomeWeight);
            progress?.Report(Line(timedOut ? $"sweep {sweep} (cut short by the wall-clock guard)" : $"sweep {sweep}", local, total, Elapsed())
                + (plainFallbacks > 0 ? $"; {plainFallbacks} robust model(s) found no solution and were solved without the resampled caps" : "")
                + (unsolved > 0 ? $"; {unsolved} layer model(s) found no solution in time" : ""));
            if (local <= bestLocal)
            {
                break;
            }

            bestLocal = local;
            best = Copy(assignment);
            boundLocal = !timedOut && options.TransitionWeight == 0 && !robust && options.PodsPerNode <= 1 && sweepBound != long.MaxValue ? Math.Min(total, (long)(sweepBound / Scale)) : null;
        }

        if (bestLocal < 0)
        {
            (_, bestLocal) = TokenHomes.Assign(sample, best, pods, options.HomeSlack, options.FirstLayerHomeWeight);
        }

        var status = timedOut ? SolveStatus.TimedOut : SolveStatus.Feasible;
        var note = string.Create(CultureInfo.InvariantCulture, $"{sweeps} sweep(s), {sample.Tokens} sampled tokens, {(robust ? $"{options.Resamples} resamples, " : "")}{(options.PodsPerNode > 1 ? $"nodes of {options.PodsPerNode} pods, " : "")}every layer model {(allOptimal ? "optimal" : "not all proven optimal")}{(timedOut ? $", stopped by the wall-clock guard ({problem.TimeLimit.TotalSeconds:0.###} s) in sweep {sweeps} before its deterministic budget was spent: the plan depends on the machine's speed and load, so the same seed need not reproduce it" : "")}");
        return PlanBuilder.Result(problem, Name, best, status, 1 - ((double)bestLocal / total), boundLocal is { } b ? 1 - ((double)b / total) : null, Elapsed(), note);
    }

    /// <summary>A layer's load cap: (1 + slack) × the mean pod load, or EPLB's packing's max + slack × the mean when higher.</summary>
    internal static long Cap(ReadOnlySpan<long> load, int[] counts, int[] slots, long[] weight, double slack)
    {
        long sum = 0;
        foreach (var w in load)
        {
            sum += w;
        }

        var even = (long)Math.Ceiling((1 + slack) * sum / slots.Length);
        var packed = Replication.Pack(load, counts, slots);
        long packedMax = 0;
        if (packed is not null)
        {
            var podLoad = new long[slots.Length];
            for (var e = 0; e < counts.Length; e++)
            {
                foreach (var p in packed[e])
                {
                    podLoad[p] += weight[e];
                }
            }

            packedMax = podLoad.Max();
        }

        // Room above EPLB's packing too, or coarse layers (few replicas per pod) could not move at all.
        return Math.Max(even, packedMax + (long)Math.Ceiling(slack * sum / slots.Length));
    }

    /// <summary>
    /// The layer's objective coefficients (token affinity + λ · transition affinity, scaled to integers) and the load a
    /// replica of e on p is expected to serve: its even share load_e / r_e, or — with concentration-aware loads — at
    /// least the dispatches of the tokens homed on p (local dispatches always stay on the home pod's replica).
    /// </summary>
    private (long[] Affinity, long[] Weight) Affinity(WorkloadProfile profile, TokenSample sample, int[] homes, int[][][] assignment, int layer, int pods, double transitionScale, long[] weight)
    {
        var tokens = TokenHomes.Affinity(sample, homes, layer, profile.Experts, pods);
        var sampleToProfile = (double)profile.Dispatches / (profile.Layers * profile.TopK) / sample.Tokens;
        var pairWeight = new long[tokens.Length];
        for (var i = 0; i < tokens.Length; i++)
        {
            var local = options.ConcentrationAwareLoads ? (long)Math.Ceiling(tokens[i] * sampleToProfile) : 0;
            pairWeight[i] = Math.Max(weight[i / pods], local);
        }

        var total = (double[])tokens.Clone();
        if (options.PodsPerNode > 1 && options.NodeWeight > 0)
        {
            AddNodeAffinity(total, tokens, pods, options.PodsPerNode, options.NodeWeight);
        }

        if (transitionScale > 0 && layer > 0)
        {
            Add(total, WarmStart.TransitionAffinity(profile, assignment[layer - 1], layer - 1, incoming: true, pods), transitionScale);
        }

        if (transitionScale > 0 && layer + 1 < profile.Layers)
        {
            Add(total, WarmStart.TransitionAffinity(profile, assignment[layer + 1], layer + 1, incoming: false, pods), transitionScale);
        }

        return (total.Select(a => (long)Math.Round(a * Scale)).ToArray(), pairWeight);
    }

    /// <summary>
    /// a[e, p] += β · Σ a_tokens[e, q] over the other pods q of p's node: a replica of e on p serves the tokens homed on
    /// its node's other pods without leaving the node (exact for an expert with one replica, an upper estimate with more).
    /// </summary>
    internal static void AddNodeAffinity(double[] target, double[] tokens, int pods, int podsPerNode, double weight)
    {
        for (var i = 0; i < tokens.Length; i++)
        {
            int e = i / pods, p = i % pods, first = p / podsPerNode * podsPerNode;
            double node = 0;
            for (var q = first; q < first + podsPerNode; q++)
            {
                node += q == p ? 0 : tokens[(e * pods) + q];
            }

            target[i] += weight * node;
        }
    }

    private static void Add(double[] target, double[] source, double scale)
    {
        for (var i = 0; i < target.Length; i++)
        {
            target[i] += source[i] * scale;
        }
    }

    private static int[][][] Copy(int[][][] assignment) => assignment.Select(l => l.Select(e => (int[])e.Clone()).ToArray()).ToArray();

    private static string Line(string stage, long local, long total, TimeSpan elapsed) =>
        string.Create(CultureInfo.InvariantCulture, $"ilp {stage}: sample remote fraction {1 - ((double)local / total):F4} ({elapsed.TotalSeconds:F1} s)");
}
