using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Steps;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Runs request steps on this pod as DESIGN.md §2 and §6a say: every token of the step is homed here; at each layer the
/// gate (or the forced routing) picks the top-k; each (token, layer, slot) dispatch goes to a replica on this pod when
/// the plan puts one here, otherwise to a remote replica (the library's <see cref="RemoteReplica"/> rule: the least
/// busy, ties by a seeded hash). Per layer the runner sends one message to each remote pod with all of that pod's
/// work, runs its local experts in process meanwhile, and adds each pod's reply (its experts' gate-weighted sum per
/// token); then the shared MLP, then the residual.
/// The plan snapshot is read once per step, so a plan switch never changes a step half-way.
/// </summary>
public sealed partial class StackRunner(
    ModelCatalog catalog,
    SiloPlanState plans,
    ExpertExecutor executor,
    IGrainFactory grains,
    TelemetryRecorder telemetry,
    Rehoming rehoming,
    SiloMetrics metrics,
    RowPool pool,
    UnreachablePods unreachable,
    IOptions<MoeCloudSiloOptions> options,
    ILogger<StackRunner> logger)
{
    private readonly int _pod = options.Value.PodIndex;
    private readonly TimeSpan _replyTimeout = options.Value.RemoteReplyTimeout;
    private readonly int[] _inflight = new int[4096];
    private readonly long _avoidMs = (long)options.Value.AvoidFailedPodFor.TotalMilliseconds;
    private readonly int _microBatches = options.Value.MicroBatches;
    private readonly int _microBatchMinTokens = options.Value.MicroBatchMinTokens;

    /// <summary>Per pod, until when (<see cref="Environment.TickCount64"/>) its experts go to their other replicas first: it failed or did not answer.</summary>
    private readonly long[] _avoidUntil = new long[4096];
    private readonly IPodExpertsGrain?[] _podExperts = new IPodExpertsGrain?[4096];

    /// <summary>This pod's index.</summary>
    public int Pod => _pod;

    /// <summary>Runs one step; throws <see cref="StepException"/> for requests it refuses.</summary>
    public Task<StepResult> Run(StepRequest request, CancellationToken cancellationToken = default) => Run(request, continued: false, cancellationToken);

    /// <summary>
    /// Runs one step whose hidden states the caller hands over: the runner computes in <see cref="StepRequest.Hidden"/>
    /// itself, without copying it first (the runner endpoint's array, decoded from the wire, is used once).
    /// </summary>
    public Task<StepResult> RunOwning(StepRequest request, CancellationToken cancellationToken = default) => Run(request, continued: false, owning: true, cancellationToken);

    /// <summary>
    /// Runs one step. A <paramref name="continued"/> step is the rest of a step another pod re-homed here: it does not
    /// re-home at its first layer (its home just decided there), and it records no telemetry or dispatch metrics (the
    /// step's first home records the whole step).
    /// </summary>
    public Task<StepResult> Run(StepRequest request, bool continued, CancellationToken cancellationToken = default) => Run(request, continued, owning: false, cancellationToken);

    /// <summary>
    /// Runs one step (<paramref name="continued"/> as above); when <paramref name="owning"/>, the caller hands
    /// <see cref="StepRequest.Hidden"/> over and the runner computes in it without copying it first.
    /// </summary>
    internal async Task<StepResult> Run(StepRequest request, bool continued, bool owning, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var model = catalog.Get(request.Model);
        var spec = model.Spec;
        StepValidator.Check(request, spec);
        using var lease = plans.Acquire(request.Model);
        var plan = lease.Plan ?? throw new StepException(StepError.Unavailable, $"Pod {_pod} has no plan for '{request.Model}' yet.");
        if (plan.Layers != spec.MoeLayers || plan.Experts != spec.Experts)
        {
            throw new StepException(StepError.Unavailable, $"The plan of '{request.Model}' is [{plan.Layers} × {plan.Experts}] but the model is [{spec.MoeLayers} × {spec.Experts}].");
        }

        int h = spec.Hidden, k = spec.TopK, n = request.Tokens, layers = request.LastLayer - request.FirstLayer + 1;
        float[] output;
        int[] allIds;
        long local, remote;
        if (_microBatches > 1 && MicroBatch.Split(n, _microBatches, _microBatchMinTokens) is { Length: > 1 } parts)
        {
            (output, allIds, local, remote) = await Overlapped(model, plan, request, parts, continued, cancellationToken);
        }
        else
        {
            var state = owning ? request.Hidden : request.Hidden.AsSpan(0, n * h).ToArray();
            (output, allIds, local, remote) = await Forward(model, plan, request, state, continued, countRoutings: true, cancellationToken);
        }

        if (!continued)
        {
            telemetry.Record(request.Model, spec.MoeLayers, spec.Experts, k, request.FirstLayer, layers, n, allIds, local, remote);
            metrics.Dispatches.WithLabels(request.Model, "local").Inc(local);
            metrics.Dispatches.WithLabels(request.Model, "remote").Inc(remote);
            metrics.Tokens.WithLabels(request.Model).Inc((double)n * layers);
        }

        return new StepResult(output, local, remote, plan.Version, _pod, BestHome.OfTokens<int>(plan, request.FirstLayer, layers, k, allIds), allIds);
    }

    /// <summary>
    /// Two-batch overlap: the step's tokens, cut into <paramref name="parts"/> (contiguous ranges), run through the
    /// layers as micro-batches at once, on the one plan snapshot. Tokens do not mix between layers here, so while one
    /// micro-batch waits for its remote pods' replies the other computes its local experts, and the reverse; each pays
    /// its own message per remote pod per layer. The step's result is the micro-batches' results in token order.
    /// </summary>
    private async Task<(float[] Output, int[] AllIds, long Local, long Remote)> Overlapped(ServedModel model, ServingPlan plan, StepRequest request, (int Start, int Count)[] parts, bool continued, CancellationToken cancellationToken)
    {
        int h = model.Spec.Hidden, k = model.Spec.TopK, n = request.Tokens, layers = request.LastLayer - request.FirstLayer + 1;
        var runs = new Task<(float[] Output, int[] AllIds, long Local, long Remote)>[parts.Length];
        var steps = parts.Select(p => MicroBatch.Slice(request, p.Start, p.Count, h)).ToArray();
        metrics.ActivationCopies.WithLabels(request.Model).Inc(n);

        // Every micro-batch but the first starts on the thread pool, then the first one here: the others' layers start
        // while its local experts compute.
        for (var i = parts.Length - 1; i >= 0; i--)
        {
            var part = steps[i];
            runs[i] = i == 0
                ? Forward(model, plan, part, part.Hidden, continued, countRoutings: true, cancellationToken)
                : Task.Run(() => Forward(model, plan, part, part.Hidden, continued, countRoutings: false, cancellationToken), CancellationToken.None);
        }

        // Waits for every micro-batch, so none still computes when the step ends; the first failure is the step's.
        await Task.WhenAll(runs);

        var output = new float[n * h];
        var allIds = new int[n * layers * k];
        long local = 0, remote = 0;
        for (var i = 0; i < parts.Length; i++)
        {
            var (start, count) = parts[i];
            var result = runs[i].Result;
            result.Output.AsSpan(0, count * h).CopyTo(output.AsSpan(start * h));
            result.AllIds.CopyTo(allIds.AsSpan(start * layers * k));
            local += result.Local;
            remote += result.Remote;
        }

        metrics.ActivationCopies.WithLabels(request.Model).Inc(n);
        return (output, allIds, local, remote);
    }

    /// <summary>
    /// Runs <paramref name="request"/>'s tokens through its layers on <paramref name="plan"/>, computing in
    /// <paramref name="state"/> (the step's own copy of the hidden states); returns the output, the routing used
    /// (<c>[tokens, layers, topK]</c>) and the dispatch counts. Records no telemetry; counts where each layer's routing came
    /// from when <paramref name="countRoutings"/> (once per step: the first of its micro-batches).
    /// </summary>
    private async Task<(float[] Output, int[] AllIds, long Local, long Remote)> Forward(ServedModel model, ServingPlan plan, StepRequest request, float[] state, bool continued, bool countRoutings, CancellationToken cancellationToken)
    {
        var spec = model.Spec;
        int h = spec.Hidden, k = spec.TopK, n = request.Tokens, layers = request.LastLayer - request.FirstLayer + 1;
        var predictor = request.ApplyNorm ? rehoming.Predictor(request.Model, plan) : null;
        var normed = new float[n * h];
        var allIds = new int[n * layers * k];
        long local = 0, remote = 0;

        // The rows still homed here (row r is the step's token rows[r]), and the steps re-homed tokens continue as.
        var live = n;
        var rows = Enumerable.Range(0, n).ToArray();
        var moved = new List<(int[] Tokens, int Layer, Task<StepResult> Result, StepRequest Request)>();
        for (var s = 0; s < layers && live > 0; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var l = request.FirstLayer + s;
            var layer = model.Layers[l];
            var x = state;
            if (request.ApplyNorm)
            {
                RmsNorm.Apply(state, layer.Norm, spec.RmsNormEps, normed, live);
                x = normed;
            }

            int[] ids;
            float[] weights;
            if (s == 0 && request.GateIds is not null)
            {
                // The gateway's gate for this layer, checked by the validator: the runner does not compute it again.
                // At the first layer every token is still here, in order, so the arrays serve as they are.
                ids = request.GateIds;
                weights = request.GateWeights!;
                if (countRoutings)
                {
                    metrics.GateRoutings.WithLabels(request.Model, "carried").Inc();
                }
            }
            else if (request.ForcedIds is not null)
            {
                ids = new int[live * k];
                weights = new float[live * k];
                for (var t = 0; t < live; t++)
                {
                    var src = ((rows[t] * layers) + s) * k;
                    Array.Copy(request.ForcedIds, src, ids, t * k, k);
                    Array.Copy(request.ForcedWeights!, src, weights, t * k, k);
                }

                if (countRoutings)
                {
                    metrics.GateRoutings.WithLabels(request.Model, "forced").Inc();
                }
            }
            else
            {
                ids = new int[live * k];
                weights = new float[live * k];
                layer.Router.Route(x, live, ids, weights);
                if (countRoutings)
                {
                    metrics.GateRoutings.WithLabels(request.Model, "computed").Inc();
                }
            }

            // Re-homing (DESIGN.md §2), with the simulator's rule: a token leaves, with its state before this layer,
            // for the pod its next layers' experts favour; that pod runs this layer and the rest for it.
            if (predictor is not null && l > 0 && (s > 0 || !continued)
                && Rehome(request, predictor, plan, s, layers, ref ids, ref live, ref rows, ref state, ref normed, ref x, ref weights, moved) is var left && left > 0)
            {
                remote += left; // a re-home counts as one remote dispatch (DESIGN.md §2)
                if (live == 0)
                {
                    break;
                }
            }

            for (var t = 0; t < live; t++)
            {
                Array.Copy(ids, t * k, allIds, ((rows[t] * layers) + s) * k, k);
            }

            // The stack API adds the layer's output to the residual and drops it, so its buffer is pooled; the layer
            // API's output is the step's result, an array of its own.
            var (y, layerLocal, layerRemote) = await RunLayer(model, plan, l, x, live, ids, weights, pooled: request.ApplyNorm, cancellationToken);
            local += layerLocal;
            remote += layerRemote;
            if (request.ApplyNorm)
            {
                VectorMath.MultiplyAdd(y.AsSpan(0, live * h), 1f, state.AsSpan(0, live * h));
                ArrayPool<float>.Shared.Return(y);
            }
            else
            {
                state = y;
            }
        }

        var output = state;
        if (moved.Count > 0)
        {
            output = new float[n * h];
            for (var t = 0; t < live; t++)
            {
                state.AsSpan(t * h, h).CopyTo(output.AsSpan(rows[t] * h, h));
            }

            foreach (var (tokens, from, result, continuation) in moved)
            {
                var rest = await ContinuedOrLocal(result, continuation, cancellationToken);
                local += rest.LocalDispatches;
                remote += rest.RemoteDispatches;
                var restLayers = layers - from;
                for (var j = 0; j < tokens.Length; j++)
                {
                    rest.Hidden.AsSpan(j * h, h).CopyTo(output.AsSpan(tokens[j] * h, h));
                    for (var r = 0; r < restLayers; r++)
                    {
                        Array.Copy(rest.ExpertIds, ((j * restLayers) + r) * k, allIds, ((tokens[j] * layers) + from + r) * k, k);
                    }
                }
            }
        }

        return (output, allIds, local, remote);
    }

    /// <summary>
    /// Decides, for each row still here, whether it re-homes at step layer <paramref name="s"/>; sends the rows that do
    /// to their new pods (one continued step per pod) and drops them from this pod's rows. Returns how many left.
    /// </summary>
    private int Rehome(StepRequest request, SpeculativeHomePredictor predictor, ServingPlan plan, int s, int layers, ref int[] ids, ref int live, ref int[] rows, ref float[] state, ref float[] normed, ref float[] x, ref float[] weights, List<(int[] Tokens, int Layer, Task<StepResult> Result, StepRequest Request)> moved)
    {
        var spec = catalog.Get(request.Model).Spec;
        int h = spec.Hidden, k = spec.TopK, l = request.FirstLayer + s;
        var target = new int[live];
        Span<short> slots = stackalloc short[k];
        var leaving = 0;
        for (var t = 0; t < live; t++)
        {
            for (var j = 0; j < k; j++)
            {
                slots[j] = (short)ids[(t * k) + j];
            }

            target[t] = predictor.TryRehome(slots, l, _pod, out var to) && to < plan.Pods ? to : -1;
            leaving += target[t] >= 0 ? 1 : 0;
        }

        if (leaving == 0)
        {
            return 0;
        }

        foreach (var group in Enumerable.Range(0, live).Where(t => target[t] >= 0).GroupBy(t => target[t]).OrderBy(g => g.Key))
        {
            var mine = group.ToArray();
            var tokens = new int[mine.Length];
            for (var j = 0; j < mine.Length; j++)
            {
                tokens[j] = rows[mine[j]];
            }

            var hidden = new float[mine.Length * h];
            int[]? forcedIds = null;
            float[]? forcedWeights = null;
            var rest = layers - s;
            if (request.ForcedIds is not null)
            {
                forcedIds = new int[mine.Length * rest * k];
                forcedWeights = new float[forcedIds.Length];
            }

            for (var j = 0; j < mine.Length; j++)
            {
                state.AsSpan(mine[j] * h, h).CopyTo(hidden.AsSpan(j * h, h));
                if (forcedIds is not null)
                {
                    Array.Copy(request.ForcedIds!, ((tokens[j] * layers) + s) * k, forcedIds, j * rest * k, rest * k);
                    Array.Copy(request.ForcedWeights!, ((tokens[j] * layers) + s) * k, forcedWeights!, j * rest * k, rest * k);
                }
            }

            metrics.ActivationCopies.WithLabels(request.Model).Inc(mine.Length);
            var continuation = new StepRequest(request.Model, l, request.LastLayer, mine.Length, hidden, forcedIds, forcedWeights, request.ForcedTopK, ApplyNorm: true);
            moved.Add((tokens, s, Continue(group.Key, continuation), continuation));
        }

        // Keep the rows that stay, in order.
        var keep = Enumerable.Range(0, live).Where(t => target[t] < 0).ToArray();
        var newState = new float[Math.Max(1, keep.Length) * h];
        var newNormed = new float[newState.Length];
        var newWeights = new float[Math.Max(1, keep.Length) * k];
        var keptIds = new int[keep.Length * k];
        var keptRows = new int[keep.Length];
        for (var j = 0; j < keep.Length; j++)
        {
            state.AsSpan(keep[j] * h, h).CopyTo(newState.AsSpan(j * h, h));
            x.AsSpan(keep[j] * h, h).CopyTo(newNormed.AsSpan(j * h, h));
            Array.Copy(weights, keep[j] * k, newWeights, j * k, k);
            Array.Copy(ids, keep[j] * k, keptIds, j * k, k);
            keptRows[j] = rows[keep[j]];
        }

        metrics.ActivationCopies.WithLabels(request.Model).Inc(2L * keep.Length);
        ids = keptIds;
        rows = keptRows;
        live = keep.Length;
        state = newState;
        normed = newNormed;
        x = newNormed;
        weights = newWeights;
        return leaving;
    }

    private async Task<StepResult> Continue(int pod, StepRequest continuation)
    {
        var reply = await PodExperts(pod).Continue(new ContinuedStep(
            continuation.Model,
            continuation.FirstLayer,
            continuation.LastLayer,
            HiddenStates.From(continuation.Hidden, continuation.Tokens, continuation.Hidden.Length / continuation.Tokens),
            continuation.ForcedIds,
            continuation.ForcedWeights,
            continuation.ForcedTopK));
        reply.Hidden.Validate();
        return new StepResult(reply.Hidden.Values.ToArray(), reply.LocalDispatches, reply.RemoteDispatches, reply.PlanVersion, pod, [], reply.ExpertIds);
    }

    /// <summary>The continued step's result; when the pod it went to failed, the same tokens continue here instead.</summary>
    private async Task<StepResult> ContinuedOrLocal(Task<StepResult> result, StepRequest continuation, CancellationToken cancellationToken)
    {
        try
        {
            return await result;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogContinuationFailed(logger, e, continuation.Model, continuation.FirstLayer);
            return await Run(continuation, continued: true, cancellationToken);
        }
    }

    private async Task<(float[] Output, long Local, long Remote)> RunLayer(ServedModel model, ServingPlan plan, int layer, float[] x, int n, int[] ids, float[] weights, bool pooled, CancellationToken cancellationToken)
    {
        var spec = model.Spec;
        int h = spec.Hidden, k = spec.TopK, experts = spec.Experts;

        // 1. Group dispatches by expert, tokens in order (a counting sort).
        var start = new int[experts + 1];
        foreach (var e in ids)
        {
            start[e + 1]++;
        }

        for (var e = 0; e < experts; e++)
        {
            start[e + 1] += start[e];
        }

        var order = new int[ids.Length];
        var next = (int[])start.Clone();
        for (var d = 0; d < ids.Length; d++)
        {
            order[next[ids[d]]++] = d;
        }

        var groups = new DispatchGroups(start, order, weights, k);

        // 2. Each expert's dispatches go to one pod: this one when it holds a replica, else the least busy remote one.
        var byPod = new List<int>?[plan.Pods];
        long local = 0, remote = 0;
        for (var e = 0; e < experts; e++)
        {
            var count = groups.Count(e);
            if (count == 0)
            {
                continue;
            }

            var pod = plan.Holds(_pod, layer, e) ? _pod : PickRemote(plan.PodsOf(layer, e), layer, e);
            (byPod[pod] ??= []).Add(e);
            Interlocked.Add(ref _inflight[pod], count);
            if (pod == _pod)
            {
                local += count;
            }
            else
            {
                remote += count;
            }
        }

        try
        {
            return (await DispatchAndCombine(model, plan, layer, groups, byPod, x, n, pooled, cancellationToken), local, remote);
        }
        finally
        {
            for (var pod = 0; pod < byPod.Length; pod++)
            {
                foreach (var e in byPod[pod] ?? [])
                {
                    Interlocked.Add(ref _inflight[pod], -groups.Count(e));
                }
            }
        }
    }

    /// <summary>
    /// Dispatches and combines one layer; the output is <c>[n, hidden]</c>, in an array rented from
    /// <see cref="ArrayPool{T}.Shared"/> (possibly longer; the caller returns it) when <paramref name="pooled"/>.
    /// </summary>
    private async Task<float[]> DispatchAndCombine(ServedModel model, ServingPlan plan, int layer, DispatchGroups groups, List<int>?[] byPod, float[] x, int n, bool pooled, CancellationToken cancellationToken)
    {
        int h = model.Spec.Hidden, experts = model.Spec.Experts;

        // 3. Dispatch: one message per remote pod, sent first; the local experts compute meanwhile, in process.
        float[] y;
        if (pooled)
        {
            y = ArrayPool<float>.Shared.Rent(Math.Max(1, n * h));
            Array.Clear(y, 0, n * h);
        }
        else
        {
            y = new float[n * h];
        }

        // Each message's rows are rented from this silo's pool and handed over with the message; each reply is this
        // step's to dispose once added (and, when the step fails first, as soon as it comes: see Abandon).
        var sent = new List<(PodWork Work, Task<PooledRows> Reply)>();
        int next = 0; // the first reply not handed to ReplyOrRetry yet
        var done = false;
        try
        {
            for (var pod = 0; pod < byPod.Length; pod++)
            {
                if (pod != _pod && byPod[pod] is { } remoteExperts)
                {
                    var work = PodWork.Remote(pool, pod, remoteExperts, groups, x, n, h);
                    sent.Add((work, Send(model, layer, work)));
                }
            }

            // A standby (a pod above the plan's pods) holds no experts: every one of its step's experts is remote.
            if (_pod < byPod.Length && byPod[_pod] is { } localExperts)
            {
                var work = PodWork.Local(_pod, localExperts, groups);
                var resolved = await executor.Resolve(model.Name, layer, _pod, experts, work.Experts);
                await executor.Run(model, layer, _pod, work.Experts, resolved, work.GroupStarts, work.EntryRows, work.EntryWeights, x, y);
            }

            // The shared MLP needs no reply: it runs while the remote pods compute too.
            if (model.Layers[layer] is { Shared: { } shared } served)
            {
                AddShared(model.Kernel, shared, served.SharedGate, x, y, n, h);
            }

            // 4. Combine: each reply holds one row per token it was sent, the weighted sum of that pod's experts.
            while (next < sent.Count)
            {
                var (work, reply) = sent[next++];
                var (answered, rows) = await ReplyOrRetry(model, plan, layer, work, reply, groups, x, n, h, cancellationToken);
                using (rows)
                {
                    Add(rows, answered.Tokens, y, h);
                }
            }

            done = true;
            return y;
        }
        finally
        {
            if (!done)
            {
                // The step failed: the replies it will not combine are no one's now.
                for (var i = next; i < sent.Count; i++)
                {
                    Abandon(sent[i].Reply);
                }

                if (pooled)
                {
                    ArrayPool<float>.Shared.Return(y);
                }
            }
        }
    }

    /// <summary>Adds reply row i to <paramref name="y"/>'s row <paramref name="tokens"/>[i]; throws unless the reply has one row of <paramref name="h"/> values per token.</summary>
    private static void Add(PooledRows rows, int[] tokens, float[] y, int h)
    {
        if (rows.Tokens != tokens.Length || rows.Hidden != h)
        {
            throw new InvalidOperationException($"A layer reply of [{rows.Tokens}, {rows.Hidden}] answers [{tokens.Length}, {h}] rows.");
        }

        var values = rows.Values;
        for (var i = 0; i < tokens.Length; i++)
        {
            VectorMath.MultiplyAdd(values.Slice(i * h, h), 1f, y.AsSpan(tokens[i] * h, h));
        }
    }

    /// <summary>Sends <paramref name="work"/>'s rows, handing them over: nothing here touches them again.</summary>
    private async Task<PooledRows> Send(ServedModel model, int layer, PodWork work)
    {
        metrics.QueueDepth.Inc();
        metrics.ActivationCopies.WithLabels(model.Name).Inc(work.Tokens.Length);
        try
        {
            var rows = work.Rows ?? throw new InvalidOperationException("Only remote work has rows to send.");
            return await PodExperts(work.Pod).Run(new LayerWork(model.Name, layer, work.Pod, rows, work.Experts, work.GroupStarts, work.EntryRows, work.EntryWeights));
        }
        finally
        {
            metrics.QueueDepth.Dec();
        }
    }

    private IPodExpertsGrain PodExperts(int pod) =>
        _podExperts[pod] ??= grains.GetGrain<IPodExpertsGrain>(pod.ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// The reply of <paramref name="work"/>; when its pod failed, or gave no answer within
    /// <see cref="MoeCloudSiloOptions.RemoteReplyTimeout"/> (presumed unreachable: a pod cut off the network fails no
    /// call), the same experts again on other pods that hold them, each retry bounded the same way.
    /// An expert with no other replica (its only one was on the failed pod) waits for the plan in effect to change — the
    /// repair plan the registry publishes once the pod is declared dead (DESIGN.md §5) — and is sent where that plan
    /// puts it: checks with a capped backoff, until the step's deadline (<paramref name="cancellationToken"/>) or at
    /// most <see cref="MaxRepairWait"/>, then fails with <see cref="StepError.ExpertsUnavailable"/> naming the expert.
    /// A step never combines a partial layer; at most <see cref="MaxRetryRounds"/> sends are tried.
    /// </summary>
    private async Task<(PodWork Work, PooledRows Rows)> ReplyOrRetry(ServedModel model, ServingPlan plan, int layer, PodWork work, Task<PooledRows> reply, DispatchGroups groups, float[] x, int n, int h, CancellationToken cancellationToken)
    {
        Exception failure;
        try
        {
            return (work, await Answer(model.Name, work.Pod, layer, reply, cancellationToken));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e;
        }

        LogPodFailed(logger, failure, work.Pod, layer, model.Name);

        // The retried pods answer for disjoint subsets of the failed pod's tokens; merge them into one set of rows.
        var merged = pool.RentCleared(work.Tokens.Length, h);
        var done = false;
        try
        {
            await Retry(model, plan, layer, work, groups, x, n, h, failure, merged, cancellationToken);
            done = true;
            return (work, merged);
        }
        finally
        {
            if (!done)
            {
                merged.Dispose();
            }
        }
    }

    /// <summary>Sends <paramref name="work"/>'s experts to other replicas (see <see cref="ReplyOrRetry"/>) and adds their replies into <paramref name="merged"/>.</summary>
    private async Task Retry(ServedModel model, ServingPlan plan, int layer, PodWork work, DispatchGroups groups, float[] x, int n, int h, Exception failure, PooledRows merged, CancellationToken cancellationToken)
    {
        var rowOf = new Dictionary<int, int>(work.Tokens.Length);
        for (var i = 0; i < work.Tokens.Length; i++)
        {
            rowOf[work.Tokens[i]] = i;
        }

        var failed = new HashSet<int> { work.Pod };
        var refused = new HashSet<int>();
        if (IsRefused(failure))
        {
            refused.Add(work.Pod);
        }

        var pending = new List<int>(work.Experts);
        var current = plan;
        var waitUntil = DateTimeOffset.UtcNow + MaxRepairWait;
        for (var round = 0; pending.Count > 0; round++)
        {
            var (byPod, orphan) = RetryTargets(current, layer, pending, failed);
            if (orphan >= 0)
            {
                ReportUnreachable(refused);
                current = await WaitForNewerPlan(model.Name, current, layer, orphan, failure, waitUntil, cancellationToken);
                continue;
            }

            if (round >= MaxRetryRounds)
            {
                throw new StepException(StepError.ExpertsUnavailable, $"Pod {work.Pod} failed layer {layer} of '{model.Name}' ({failure.Message}); experts {string.Join(", ", pending)} found no answering replica in {MaxRetryRounds} tries.");
            }

            foreach (var (pod, list) in byPod)
            {
                var retry = PodWork.Remote(pool, pod, list, groups, x, n, h);
                Interlocked.Add(ref _inflight[pod], retry.EntryRows.Length);
                try
                {
                    using var rows = await Answer(model.Name, pod, layer, Send(model, layer, retry), cancellationToken);
                    if (rows.Tokens != retry.Tokens.Length || rows.Hidden != h)
                    {
                        throw new InvalidOperationException($"Pod {pod}'s reply of [{rows.Tokens}, {rows.Hidden}] answers [{retry.Tokens.Length}, {h}] rows.");
                    }

                    var values = rows.Values;
                    var into = merged.Values;
                    for (var i = 0; i < retry.Tokens.Length; i++)
                    {
                        VectorMath.MultiplyAdd(values.Slice(i * h, h), 1f, into.Slice(rowOf[retry.Tokens[i]] * h, h));
                    }

                    pending.RemoveAll(list.Contains);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // That pod failed too: its experts go round again, to their other replicas or after a repair.
                    LogPodFailed(logger, e, pod, layer, model.Name);
                    failed.Add(pod);
                    if (IsRefused(e))
                    {
                        refused.Add(pod);
                    }
                }
                finally
                {
                    Interlocked.Add(ref _inflight[pod], -retry.EntryRows.Length);
                }
            }
        }
    }

    /// <summary>
    /// The reply of a layer message sent to <paramref name="pod"/>, waited for at most
    /// <see cref="MoeCloudSiloOptions.RemoteReplyTimeout"/>: a pod cut off the network fails no call, so past that it is
    /// presumed unreachable (<see cref="TimeoutException"/>) and its late answer, if one comes, is ignored. Past the
    /// step's deadline throws <see cref="OperationCanceledException"/>. Counts each failure by cause.
    /// </summary>
    private async Task<PooledRows> Answer(string model, int pod, int layer, Task<PooledRows> reply, CancellationToken cancellationToken)
    {
        try
        {
            var rows = await reply.WaitAsync(_replyTimeout, cancellationToken);
            if (Volatile.Read(ref _avoidUntil[pod]) != 0)
            {
                Volatile.Write(ref _avoidUntil[pod], 0); // it answers again
            }

            return rows;
        }
        catch (TimeoutException) when (!reply.IsCompleted)
        {
            Abandon(reply);
            Avoid(pod);
            metrics.RemoteFailures.WithLabels(model, "timeout").Inc();
            throw new TimeoutException($"Pod {pod} did not answer layer {layer} of '{model}' within {_replyTimeout.TotalMilliseconds:F0} ms; presumed unreachable.");
        }
        catch (OperationCanceledException) when (!reply.IsCompleted)
        {
            Abandon(reply);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Avoid(pod);
            metrics.RemoteFailures.WithLabels(model, e is TimeoutException ? "timeout" : "error").Inc();
            throw;
        }
    }

    /// <summary>Sends <paramref name="pod"/>'s experts to their other replicas first for <see cref="MoeCloudSiloOptions.AvoidFailedPodFor"/>.</summary>
    private void Avoid(int pod)
    {
        if (_avoidMs > 0)
        {
            Volatile.Write(ref _avoidUntil[pod], Environment.TickCount64 + _avoidMs);
        }
    }

    /// <summary>Whether <paramref name="pod"/> failed or went unanswered recently (<see cref="Avoid"/>).</summary>
    private bool Avoided(int pod, long now) => Volatile.Read(ref _avoidUntil[pod]) > now;

    /// <summary>
    /// Observes the outcome of a reply no one waits for any more: its late failure goes nowhere, and its late rows go
    /// back to the pool.
    /// </summary>
    private static void Abandon(Task<PooledRows> reply) =>
        _ = reply.ContinueWith(
            static t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    t.Result.Dispose();
                }
                else
                {
                    _ = t.Exception;
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    /// <summary>
    /// Whether a layer message failed because Orleans could not deliver it to its pod's silo (it rejected the message:
    /// the connection failed, the silo is unavailable), as opposed to an error the pod answered with or a reply that
    /// took too long. <see cref="UnreachablePods"/>' probes tell a dead pod from one that only refused for a moment.
    /// </summary>
    internal static bool IsRefused(Exception failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            // A message Orleans could not deliver comes back as a rejection (SiloUnavailableException is one), its cause
            // (a ConnectionFailedException: "Unable to connect to endpoint") in the rejection's text.
            if (e is OrleansMessageRejectionException or Orleans.Runtime.Messaging.ConnectionFailedException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Reports the <paramref name="pods"/>, which refused layer work and hold the only replica of an expert a step needs,
    /// to <see cref="UnreachablePods"/>: it probes them and declares a pod that refuses its probes too dead at once, so
    /// that the repair need not wait for the cluster's probe rounds. Not waited for.
    /// </summary>
    private void ReportUnreachable(HashSet<int> pods)
    {
        foreach (var pod in pods)
        {
            unreachable.Report(pod);
        }
    }

    /// <summary>Most send rounds a failed pod's layer work gets (each failure of a retry adds one).</summary>
    private const int MaxRetryRounds = 8;

    /// <summary>
    /// Most time a step waits for a repair plan when it has no deadline of its own (a step with a deadline waits until
    /// it): longer than failure detection plus a repair rollout takes on a local cluster (a few seconds).
    /// </summary>
    internal static readonly TimeSpan MaxRepairWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Where each pending expert is retried under <paramref name="plan"/>: the least busy replica not on a failed pod, one on a pod that failed recently only when no other remains
    /// (this pod included, when a newer plan put one here). The orphan is the first expert with none (-1: none).
    /// </summary>
    private (SortedDictionary<int, List<int>> ByPod, int Orphan) RetryTargets(ServingPlan plan, int layer, List<int> pending, HashSet<int> failed)
    {
        var byPod = new SortedDictionary<int, List<int>>();
        var now = Environment.TickCount64;
        foreach (var e in pending)
        {
            var others = plan.PodsOf(layer, e).ToArray().Where(p => !failed.Contains(p)).ToArray();
            if (others.Length == 0)
            {
                return (byPod, e);
            }

            if (others.Any(p => p == _pod || !Avoided(p, now)))
            {
                others = others.Where(p => p == _pod || !Avoided(p, now)).ToArray(); // replicas on pods that failed recently go last
            }

            var pod = others[RemoteReplica.ForBatch<int>(others.Select(p => Volatile.Read(ref _inflight[p])).ToArray(), _pod, layer, e, RemoteReplica.DefaultSeed)];
            if (!byPod.TryGetValue(pod, out var list))
            {
                byPod[pod] = list = [];
            }

            list.Add(e);
        }

        return (byPod, -1);
    }

    /// <summary>
    /// Waits, checking with a backoff from 10 ms doubling to 500 ms, until this silo serves a newer plan of the model
    /// than <paramref name="current"/>, and returns it. Past the step's deadline or <paramref name="until"/>, throws
    /// <see cref="StepException"/> (<see cref="StepError.ExpertsUnavailable"/>) naming the expert that had no replica.
    /// </summary>
    private async Task<ServingPlan> WaitForNewerPlan(string model, ServingPlan current, int layer, int expert, Exception failure, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            if (plans.Get(model) is { } newer && newer.Version > current.Version)
            {
                metrics.RepairWaits.WithLabels(model, "served").Inc();
                return newer;
            }

            var left = until - DateTimeOffset.UtcNow;
            if (cancellationToken.IsCancellationRequested || left <= TimeSpan.Zero)
            {
                metrics.RepairWaits.WithLabels(model, "expired").Inc();
                throw new StepException(StepError.ExpertsUnavailable, $"Layer {layer}, expert {expert} of '{model}' has no live replica (its pod failed: {failure.Message}), and no repair plan took effect before the step's deadline.");
            }

            try
            {
                await Task.Delay(delay < left ? delay : left, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The deadline passed while waiting: the next pass reports it, naming the expert.
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(500).Ticks));
        }
    }

    private static void AddShared(IExpertKernel kernel, ExpertWeights shared, float[]? gate, float[] x, float[] y, int n, int h)
    {
        var ys = ArrayPool<float>.Shared.Rent(Math.Max(1, n * h));
        try
        {
            kernel.Forward(shared, x.AsSpan(0, n * h), ys.AsSpan(0, n * h), n);
            for (var t = 0; t < n; t++)
            {
                var scale = gate is null ? 1f : 1f / (1f + MathF.Exp(-VectorMath.Dot(gate, x.AsSpan(t * h, h))));
                VectorMath.MultiplyAdd(ys.AsSpan(t * h, h), scale, y.AsSpan(t * h, h));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(ys);
        }
    }

    /// <summary>
    /// The library's remote-replica rule (<see cref="RemoteReplica.ForBatch"/>) with this pod's view of the load: the
    /// dispatches it has in flight to each replica's pod.
    /// </summary>
    private int PickRemote(ReadOnlySpan<int> pods, int layer, int expert)
    {
        // Replicas on a pod that failed recently are left out while another one remains (AvoidFailedPodFor).
        var now = Environment.TickCount64;
        var avoided = 0;
        foreach (var p in pods)
        {
            avoided += Avoided(p, now) ? 1 : 0;
        }

        if (avoided > 0 && avoided < pods.Length)
        {
            var kept = new int[pods.Length - avoided];
            var k = 0;
            foreach (var p in pods)
            {
                if (!Avoided(p, now))
                {
                    kept[k++] = p;
                }
            }

            pods = kept;
        }

        Span<int> loads = pods.Length <= 256 ? stackalloc int[pods.Length] : new int[pods.Length];
        for (var i = 0; i < pods.Length; i++)
        {
            loads[i] = Volatile.Read(ref _inflight[pods[i]]);
        }

        return pods[RemoteReplica.ForBatch<int>(loads, _pod, layer, expert, RemoteReplica.DefaultSeed)];
    }

    [LoggerMessage(EventId = 5401, Level = LogLevel.Warning, Message = "Re-homed tokens of {Model} (from layer {Layer}) failed on their new pod; they continue here")]
    private static partial void LogContinuationFailed(ILogger logger, Exception exception, string model, int layer);

    [LoggerMessage(EventId = 5400, Level = LogLevel.Warning, Message = "Pod {Pod} failed layer {Layer} of {Model}; retrying its experts on other replicas")]
    private static partial void LogPodFailed(ILogger logger, Exception exception, int pod, int layer, string model);

    /// <summary>A layer's dispatches grouped by expert: expert e's are <c>Order[Start[e]..Start[e + 1])</c>, dispatch d being token d / k.</summary>
    private readonly record struct DispatchGroups(int[] Start, int[] Order, float[] Weights, int TopK)
    {
        public int Count(int expert) => Start[expert + 1] - Start[expert];
    }

    /// <summary>
    /// One pod's share of a layer in <see cref="LayerWork"/>'s shape. Local work indexes the layer input directly;
    /// remote work gathers each distinct token once into <see cref="Rows"/> (the one copy a message needs), rented from
    /// the pool and handed over when sent.
    /// </summary>
    private sealed record PodWork(int Pod, int[] Experts, int[] GroupStarts, int[] EntryRows, float[] EntryWeights, int[] Tokens, PooledRows? Rows)
    {
        public static PodWork Local(int pod, List<int> experts, DispatchGroups groups) => Build(pod, experts, groups, rowOf: null, out _);

        public static PodWork Remote(RowPool pool, int pod, List<int> experts, DispatchGroups groups, float[] x, int n, int h)
        {
            var rowOf = new int[n];
            Array.Fill(rowOf, -1);
            var work = Build(pod, experts, groups, rowOf, out var tokens);
            var rows = pool.Rent(tokens.Count, h);
            var into = rows.Values;
            for (var i = 0; i < tokens.Count; i++)
            {
                x.AsSpan(tokens[i] * h, h).CopyTo(into.Slice(i * h, h));
            }

            return work with { Tokens = [.. tokens], Rows = rows };
        }

        private static PodWork Build(int pod, List<int> experts, DispatchGroups groups, int[]? rowOf, out List<int> tokens)
        {
            var entries = 0;
            foreach (var e in experts)
            {
                entries += groups.Count(e);
            }

            var starts = new int[experts.Count + 1];
            var entryRows = new int[entries];
            var entryWeights = new float[entries];
            tokens = [];
            var i = 0;
            for (var g = 0; g < experts.Count; g++)
            {
                var e = experts[g];
                for (var j = groups.Start[e]; j < groups.Start[e + 1]; j++)
                {
                    var d = groups.Order[j];
                    var token = d / groups.TopK;
                    if (rowOf is not null && rowOf[token] < 0)
                    {
                        rowOf[token] = tokens.Count;
                        tokens.Add(token);
                    }

                    entryRows[i] = rowOf is null ? token : rowOf[token];
                    entryWeights[i++] = groups.Weights[d];
                }

                starts[g + 1] = i;
            }

            return new PodWork(pod, [.. experts], starts, entryRows, entryWeights, [], null);
        }
    }
}
