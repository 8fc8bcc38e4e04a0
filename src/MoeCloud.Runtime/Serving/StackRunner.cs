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
/// Runs request steps on this pod as DESIGN.md §2 says: every token of the step is homed here; at each layer the gate
/// (or the forced routing) picks the top-k; each (token, layer, slot) dispatch goes to a replica on this pod when the
/// plan puts one here, otherwise to a remote replica (the library's <see cref="RemoteReplica"/> rule: the least busy,
/// ties by a seeded hash); outputs are combined with the gate weights in ascending expert order (as the reference
/// forward does), the shared MLP is added, then the residual.
/// The plan snapshot is read once per step, so a plan switch never changes a step half-way.
/// </summary>
public sealed class StackRunner(
    ModelCatalog catalog,
    SiloPlanState plans,
    CoalescingDispatcher dispatcher,
    TelemetryRecorder telemetry,
    SiloMetrics metrics,
    IOptions<MoeCloudSiloOptions> options)
{
    private readonly int _pod = options.Value.PodIndex;
    private readonly int[] _inflight = new int[4096];

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

        // 2. One dispatch per expert: local replica if this pod holds one, otherwise the least busy remote replica.
        long local = 0, remote = 0;
        var calls = new List<(int Expert, int Pod, Task<HiddenStates> Result)>();
        for (var e = 0; e < experts; e++)
        {
            var count = start[e + 1] - start[e];
            if (count == 0)
            {
                continue;
            }

            var data = new byte[count * h * sizeof(float)];
            var rows = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data.AsSpan());
            for (var i = 0; i < count; i++)
            {
                x.AsSpan(order[start[e] + i] / k * h, h).CopyTo(rows.Slice(i * h, h));
            }

            int pod;
            if (plan.Holds(_pod, layer, e))
            {
                pod = _pod;
                local += count;
            }
            else
            {
                pod = PickRemote(plan.PodsOf(layer, e), layer, e);
                remote += count;
            }

            Interlocked.Add(ref _inflight[pod], count);
            calls.Add((e, pod, dispatcher.Dispatch(new ExpertReplicaKey(model.Name, layer, e, pod), new HiddenStates(count, h, data))));
        }

        try
        {
            await Task.WhenAll(calls.Select(c => c.Result));
        }
        finally
        {
            foreach (var c in calls)
            {
                Interlocked.Add(ref _inflight[c.Pod], -(start[c.Expert + 1] - start[c.Expert]));
            }
        }

        // 3. Combine in ascending expert order, then the shared MLP.
        var y = new float[n * h];
        foreach (var (e, _, result) in calls)
        {
            var outputs = (await result).Values;
            for (var i = 0; i < start[e + 1] - start[e]; i++)
            {
                var d = order[start[e] + i];
                VectorMath.MultiplyAdd(outputs.Slice(i * h, h), weights[d], y.AsSpan(d / k * h, h));
            }
        }

        if (model.Layers[layer] is { Shared: { } shared } served)
        {
            AddShared(model.Kernel, shared, served.SharedGate, x, y, n, h);
        }

        return (y, local, remote);
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
}
