using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Steps;
using MoeCloud.Runtime.Placement;
using MoeCloud.Runtime.Serving;
using Orleans.Concurrency;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// The receiving end of the per-layer all-to-all on one pod: runs a home pod's layer work on this pod's replicas, in
/// process (<see cref="ExpertExecutor"/>), and answers with one row per token row. Reentrant, and the kernels run on
/// the thread pool, so the layer messages of concurrent steps compute side by side (and coalesce per layer).
/// The rows it is sent and the reply it sends are <see cref="PooledRows"/> from this silo's <paramref name="pool"/>:
/// it disposes the rows once computed, and hands the reply over to the caller.
/// </summary>
[PodPlacement]
[Reentrant]
public sealed class PodExpertsGrain(ModelCatalog catalog, ExpertExecutor executor, RowPool pool, IServiceProvider services, ILocalSiloDetails silo) : Grain, IPodExpertsGrain
{
    /// <inheritdoc />
    public async Task<PooledRows> Run(LayerWork work)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var rows = work.Rows; // handed over with the work: back to the pool once computed, or refused
        var model = catalog.Find(work.Model) ?? throw new ArgumentException($"Model '{work.Model}' is not served on {silo.Name}.");
        work.Validate(model.Spec.Experts, model.Spec.Hidden);
        if ((uint)work.Layer >= (uint)model.Spec.MoeLayers)
        {
            throw new ArgumentException($"Layer {work.Layer} is outside {work.Model}'s {model.Spec.MoeLayers} MoE layers.");
        }

        if (!PodPlacementDirector.TryGetPod(this.GetPrimaryKeyString(), out var pod) || PodNames.PodOfSiloName(silo.Name) != pod)
        {
            // Placed by the fallback while the pod was away: it moves to the pod's silo once that is a placement target
            // (a plain deactivation would not: callers keep this silo's address and it would be created here again).
            MigrateOnIdle();
        }

        var weights = await executor.Resolve(work.Model, work.Layer, work.Pod, model.Spec.Experts, work.Experts);
        var output = pool.RentCleared(rows.Tokens, rows.Hidden);
        var handedOver = false;
        try
        {
            // On the thread pool, not on this grain's turn: while one layer's work computes, the grain takes in more
            // (which the executor coalesces with it when it is for the same layer).
            await Task.Run(() => executor.Run(model, work.Layer, work.Pod, work.Experts, weights, work.GroupStarts, work.EntryRows, work.EntryWeights, rows.Memory, output.Memory));
            handedOver = true;
            return output;
        }
        finally
        {
            if (!handedOver)
            {
                output.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public Task<PooledRows> Echo(PooledRows rows) => Task.FromResult(rows);

    /// <inheritdoc />
    public async Task<ContinuedStepResult> Continue(ContinuedStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(step.Hidden);
        step.Hidden.Validate();
        var request = new StepRequest(step.Model, step.FirstLayer, step.LastLayer, step.Hidden.Tokens, step.Hidden.Values.ToArray(), step.ForcedIds, step.ForcedWeights, step.ForcedTopK, ApplyNorm: true);

        // The runner's own step, off the grain's turn: its layers send layer work to other pods meanwhile.
        var runner = services.GetRequiredService<StackRunner>();
        var result = await Task.Run(() => runner.Run(request, continued: true, owning: true, CancellationToken.None));
        return new ContinuedStepResult(HiddenStates.From(result.Hidden, step.Hidden.Tokens, step.Hidden.Hidden), result.LocalDispatches, result.RemoteDispatches, result.PlanVersion, result.ExpertIds);
    }

    /// <inheritdoc />
    public async Task<double[]> MeasureEcho(int[] pods, int[] bytes, int rounds)
    {
        ArgumentNullException.ThrowIfNull(pods);
        ArgumentNullException.ThrowIfNull(bytes);
        if (pods.Length != bytes.Length || rounds is < 1 or > 100_000 || bytes.Any(b => b < 0 || b % sizeof(float) != 0))
        {
            throw new ArgumentException($"MeasureEcho takes one byte count (a multiple of 4) per pod and 1 to 100000 rounds; got {pods.Length} pods, {bytes.Length} counts, {rounds} rounds.");
        }

        var targets = pods.Select(p => GrainFactory.GetGrain<IPodExpertsGrain>(p.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var times = new double[rounds];
        var sends = new Task<PooledRows>[targets.Length];
        for (var r = 0; r < rounds; r++)
        {
            // As a layer does: each round's rows are rented and handed over, and the replies go back to the pool.
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            for (var i = 0; i < targets.Length; i++)
            {
                sends[i] = targets[i].Echo(pool.RentCleared(bytes[i] / sizeof(float), 1));
            }

            foreach (var reply in await Task.WhenAll(sends))
            {
                reply.Dispose();
            }

            times[r] = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }

        return times;
    }
}
