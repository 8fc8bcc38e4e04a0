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
    SiloMetrics metrics,
    IOptions<MoeCloudSiloOptions> options,
    ILogger<StackRunner> logger)
{
    private readonly int _pod = options.Value.PodIndex;
    private readonly int[] _inflight = new int[4096];
    private readonly IPodExpertsGrain?[] _podExperts = new IPodExpertsGrain?[4096];

    /// <summary>This pod's index.</summary>
    public int Pod => _pod;

    /// <summary>Runs one step; throws <see cref="StepException"/> for requests it refuses.</summary>
    public async Task<StepResult> Run(StepRequest request, CancellationToken cancellationToken = default)
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
        var state = request.Hidden.AsSpan(0, n * h).ToArray();
        var normed = new float[n * h];
        var allIds = new int[n * layers * k];
        long local = 0, remote = 0;
        for (var s = 0; s < layers; s++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var l = request.FirstLayer + s;
            var layer = model.Layers[l];
            var x = state;
            if (request.ApplyNorm)
            {
                RmsNorm.Apply(state, layer.Norm, spec.RmsNormEps, normed, n);
                x = normed;
            }

            var ids = new int[n * k];
            var weights = new float[n * k];
            if (request.ForcedIds is not null)
            {
                for (var t = 0; t < n; t++)
                {
                    var src = ((t * layers) + s) * k;
                    Array.Copy(request.ForcedIds, src, ids, t * k, k);
                    Array.Copy(request.ForcedWeights!, src, weights, t * k, k);
                }
            }
            else
            {
                layer.Router.Route(x, n, ids, weights);
            }

            for (var t = 0; t < n; t++)
            {
                Array.Copy(ids, t * k, allIds, ((t * layers) + s) * k, k);
            }

            var (y, layerLocal, layerRemote) = await RunLayer(model, plan, l, x, n, ids, weights);
            local += layerLocal;
            remote += layerRemote;
            if (request.ApplyNorm)
            {
                VectorMath.MultiplyAdd(y, 1f, state);
            }
            else
            {
                state = y;
            }
        }

        telemetry.Record(request.Model, spec.MoeLayers, spec.Experts, k, request.FirstLayer, layers, n, allIds, local, remote);
        metrics.Dispatches.WithLabels(request.Model, "local").Inc(local);
        metrics.Dispatches.WithLabels(request.Model, "remote").Inc(remote);
        metrics.Tokens.WithLabels(request.Model).Inc((double)n * layers);
        return new StepResult(state, local, remote, plan.Version, _pod, BestHome.OfTokens<int>(plan, request.FirstLayer, layers, k, allIds), allIds);
    }

    private async Task<(float[] Output, long Local, long Remote)> RunLayer(ServedModel model, ServingPlan plan, int layer, float[] x, int n, int[] ids, float[] weights)
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
            return (await DispatchAndCombine(model, plan, layer, groups, byPod, x, n), local, remote);
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

    private async Task<float[]> DispatchAndCombine(ServedModel model, ServingPlan plan, int layer, DispatchGroups groups, List<int>?[] byPod, float[] x, int n)
    {
        int h = model.Spec.Hidden, experts = model.Spec.Experts;

        // 3. Dispatch: one message per remote pod, sent first; the local experts compute meanwhile, in process.
        var y = new float[n * h];
        var sent = new List<(PodWork Work, Task<HiddenStates> Reply)>();
        for (var pod = 0; pod < byPod.Length; pod++)
        {
            if (pod != _pod && byPod[pod] is { } remoteExperts)
            {
                var work = PodWork.Remote(pod, remoteExperts, groups, x, n, h);
                sent.Add((work, Send(model, layer, work)));
            }
        }

        if (byPod[_pod] is { } localExperts)
        {
            var work = PodWork.Local(_pod, localExperts, groups);
            var resolved = await executor.Resolve(model.Name, layer, _pod, experts, work.Experts);
            executor.Compute(model, resolved, work.GroupStarts, work.EntryRows, work.EntryWeights, x, y);
        }

        // The shared MLP needs no reply: it runs while the remote pods compute too.
        if (model.Layers[layer] is { Shared: { } shared } served)
        {
            AddShared(model.Kernel, shared, served.SharedGate, x, y, n, h);
        }

        // 4. Combine: each reply holds one row per token it was sent, the weighted sum of that pod's experts.
        foreach (var (work, reply) in sent)
        {
            var (answered, rows) = await ReplyOrRetry(model, plan, layer, work, reply, groups, x, n, h);
            for (var i = 0; i < answered.Tokens.Length; i++)
            {
                VectorMath.MultiplyAdd(rows.Values.Slice(i * h, h), 1f, y.AsSpan(answered.Tokens[i] * h, h));
            }
        }

        return y;
    }

    private async Task<HiddenStates> Send(ServedModel model, int layer, PodWork work)
    {
        metrics.QueueDepth.Inc();
        metrics.ActivationCopies.WithLabels(model.Name).Inc(work.Tokens.Length);
        try
        {
            var rows = new HiddenStates(work.Tokens.Length, model.Spec.Hidden, work.Rows!);
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
    /// The reply of <paramref name="work"/>; when its pod failed, the same experts once more on other pods that hold
    /// them. A step never combines a partial layer: if an expert has no other replica, or the retry fails too, the step
    /// fails with <see cref="StepError.Unavailable"/>, naming the pod and the layer.
    /// </summary>
    private async Task<(PodWork Work, HiddenStates Rows)> ReplyOrRetry(ServedModel model, ServingPlan plan, int layer, PodWork work, Task<HiddenStates> reply, DispatchGroups groups, float[] x, int n, int h)
    {
        Exception failure;
        try
        {
            return (work, await reply);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            failure = e;
        }

        LogPodFailed(logger, failure, work.Pod, layer, model.Name);
        var byPod = new SortedDictionary<int, List<int>>();
        foreach (var e in work.Experts)
        {
            var others = plan.PodsOf(layer, e).ToArray().Where(p => p != work.Pod && p != _pod).ToArray();
            if (others.Length == 0)
            {
                throw new StepException(StepError.Unavailable, $"Pod {work.Pod} failed layer {layer} of '{model.Name}' ({failure.Message}), and expert {e} has no replica elsewhere.");
            }

            var pod = others[RemoteReplica.ForBatch<int>(others.Select(p => Volatile.Read(ref _inflight[p])).ToArray(), _pod, layer, e, RemoteReplica.DefaultSeed)];
            if (!byPod.TryGetValue(pod, out var list))
            {
                byPod[pod] = list = [];
            }

            list.Add(e);
        }

        // The retried pods answer for disjoint subsets of the failed pod's tokens; merge them into one set of rows.
        var y = new float[work.Tokens.Length * h];
        var rowOf = new Dictionary<int, int>(work.Tokens.Length);
        for (var i = 0; i < work.Tokens.Length; i++)
        {
            rowOf[work.Tokens[i]] = i;
        }

        foreach (var (pod, list) in byPod)
        {
            var retry = PodWork.Remote(pod, list, groups, x, n, h);
            HiddenStates rows;
            Interlocked.Add(ref _inflight[pod], retry.EntryRows.Length);
            try
            {
                rows = await Send(model, layer, retry);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new StepException(StepError.Unavailable, $"Pod {work.Pod} failed layer {layer} of '{model.Name}' ({failure.Message}); the retry on pod {pod} failed too ({e.Message}).");
            }
            finally
            {
                Interlocked.Add(ref _inflight[pod], -retry.EntryRows.Length);
            }

            for (var i = 0; i < retry.Tokens.Length; i++)
            {
                VectorMath.MultiplyAdd(rows.Values.Slice(i * h, h), 1f, y.AsSpan(rowOf[retry.Tokens[i]] * h, h));
            }
        }

        return (work, new HiddenStates(work.Tokens.Length, h, MemoryMarshal.AsBytes(y.AsSpan()).ToArray()));
    }

    private static void AddShared(IExpertKernel kernel, ExpertWeights shared, float[]? gate, float[] x, float[] y, int n, int h)
    {
        var ys = new float[n * h];
        kernel.Forward(shared, x, ys, n);
        for (var t = 0; t < n; t++)
        {
            var scale = gate is null ? 1f : 1f / (1f + MathF.Exp(-VectorMath.Dot(gate, x.AsSpan(t * h, h))));
            VectorMath.MultiplyAdd(ys.AsSpan(t * h, h), scale, y.AsSpan(t * h, h));
        }
    }

    /// <summary>
    /// The library's remote-replica rule (<see cref="RemoteReplica.ForBatch"/>) with this pod's view of the load: the
    /// dispatches it has in flight to each replica's pod.
    /// </summary>
    private int PickRemote(ReadOnlySpan<int> pods, int layer, int expert)
    {
        Span<int> loads = pods.Length <= 256 ? stackalloc int[pods.Length] : new int[pods.Length];
        for (var i = 0; i < pods.Length; i++)
        {
            loads[i] = Volatile.Read(ref _inflight[pods[i]]);
        }

        return pods[RemoteReplica.ForBatch<int>(loads, _pod, layer, expert, RemoteReplica.DefaultSeed)];
    }

    [LoggerMessage(EventId = 5400, Level = LogLevel.Warning, Message = "Pod {Pod} failed layer {Layer} of {Model}; retrying its experts on other replicas")]
    private static partial void LogPodFailed(ILogger logger, Exception exception, int pod, int layer, string model);

    /// <summary>A layer's dispatches grouped by expert: expert e's are <c>Order[Start[e]..Start[e + 1])</c>, dispatch d being token d / k.</summary>
    private readonly record struct DispatchGroups(int[] Start, int[] Order, float[] Weights, int TopK)
    {
        public int Count(int expert) => Start[expert + 1] - Start[expert];
    }

    /// <summary>
    /// One pod's share of a layer in <see cref="LayerWork"/>'s shape. Local work indexes the layer input directly;
    /// remote work gathers each distinct token once into <see cref="Rows"/> (the one copy a message needs).
    /// </summary>
    private sealed record PodWork(int Pod, int[] Experts, int[] GroupStarts, int[] EntryRows, float[] EntryWeights, int[] Tokens, byte[]? Rows)
    {
        public static PodWork Local(int pod, List<int> experts, DispatchGroups groups) => Build(pod, experts, groups, rowOf: null, out _);

        public static PodWork Remote(int pod, List<int> experts, DispatchGroups groups, float[] x, int n, int h)
        {
            var rowOf = new int[n];
            Array.Fill(rowOf, -1);
            var work = Build(pod, experts, groups, rowOf, out var tokens);
            var rows = new byte[tokens.Count * h * sizeof(float)];
            var into = MemoryMarshal.Cast<byte, float>(rows.AsSpan());
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
