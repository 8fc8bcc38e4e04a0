using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Runs expert groups on the replicas this silo holds, in process: the home pod's local experts and a remote pod's
/// layer work both come here. Per group it gathers the group's rows (only when there is more than one: a single row is
/// passed to the kernel in place), runs the kernel, and adds each output row, scaled by its gate weight, to the
/// group's row of <c>y</c>. Rows gathered for the kernel are counted in <c>moecloud_silo_activation_row_copies_total</c>.
/// </summary>
public sealed class ExpertExecutor(LocalExperts experts, IGrainFactory grains, SiloMetrics metrics, IOptions<MoeCloudSiloOptions> options)
{
    private readonly ConcurrentDictionary<(string Model, int Layer, int Pod), LayerQueue> _queues = new();
    private long _batches;

    /// <summary>
    /// The weights of replica (<paramref name="layer"/>, e) @ <paramref name="pod"/> for each expert e of
    /// <paramref name="groupExperts"/>, activating through its grain any that this silo does not hold yet (a replica
    /// is activated by its first use, as a grain call would). Throws when a replica is activated but not on this silo.
    /// </summary>
    public async ValueTask<ExpertWeights[]> Resolve(string model, int layer, int pod, int expertsPerLayer, int[] groupExperts)
    {
        var resolved = new ExpertWeights[groupExperts.Length];
        var table = experts.Table(model, pod);
        List<int>? missing = null;
        for (var g = 0; g < groupExperts.Length; g++)
        {
            var w = table is null ? null : Volatile.Read(ref table[(layer * expertsPerLayer) + groupExperts[g]]);
            if (w is null)
            {
                (missing ??= []).Add(g);
            }
            else
            {
                resolved[g] = w;
            }
        }

        if (missing is null)
        {
            return resolved;
        }

        await Task.WhenAll(missing.Select(g => grains.GetGrain<IExpertGrain>(new ExpertReplicaKey(model, layer, groupExperts[g], pod).ToString()).Warm()));
        table = experts.Table(model, pod);
        foreach (var g in missing)
        {
            resolved[g] = (table is null ? null : Volatile.Read(ref table[(layer * expertsPerLayer) + groupExperts[g]]))
                ?? throw new InvalidOperationException($"Replica {new ExpertReplicaKey(model, layer, groupExperts[g], pod)} is active, but not on this silo: its pod has moved.");
        }

        return resolved;
    }

    /// <summary>
    /// Adds, for every entry, weight × expert(x[row]) to y[row]; <paramref name="weights"/> comes from
    /// <see cref="Resolve"/>, one per group. Work for the same (model, layer, pod) that arrives while such work is
    /// computing queues, and leaves together as the next batch: each expert then runs once on the rows of every queued
    /// step (up to <see cref="MaxBatchTokens"/> rows), so concurrent steps share its weight reads. When nothing is
    /// computing the work runs at once, on the caller's thread, with no added latency.
    /// </summary>
    public Task Run(ServedModel model, int layer, int pod, int[] groupExperts, ExpertWeights[] weights, int[] groupStarts, int[] entryRows, float[] entryWeights, ReadOnlyMemory<float> x, Memory<float> y)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(groupExperts);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(groupStarts);
        ArgumentNullException.ThrowIfNull(entryRows);
        ArgumentNullException.ThrowIfNull(entryWeights);
        var work = new Work(groupExperts, weights, groupStarts, entryRows, entryWeights, x, y);
        var queue = _queues.GetOrAdd((model.Name, layer, pod), _ => new LayerQueue());
        bool run;
        lock (queue)
        {
            queue.Pending.Enqueue(work);
            run = !queue.Busy;
            queue.Busy = true;
        }

        if (run)
        {
            Drain(model, queue, work);
        }

        return work.Done.Task;
    }

    /// <summary>Most token rows one coalesced batch of a layer's work takes.</summary>
    public int MaxBatchTokens { get; } = options.Value.MaxBatchTokens;

    /// <summary>Batches computed so far (each one or more steps' work for one layer).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    private void Drain(ServedModel model, LayerQueue queue, Work? mine)
    {
        while (true)
        {
            List<Work> batch;
            lock (queue)
            {
                if (queue.Pending.Count == 0)
                {
                    queue.Busy = false;
                    return;
                }

                if (mine is not null && mine.Done.Task.IsCompleted)
                {
                    // The caller's own work is done: the rest drains on the thread pool, not on the caller's step.
                    ThreadPool.UnsafeQueueUserWorkItem(q => Drain(model, q, null), queue, preferLocal: false);
                    return;
                }

                batch = [queue.Pending.Dequeue()];
                var rows = batch[0].EntryRows.Length;
                while (queue.Pending.Count > 0 && rows + queue.Pending.Peek().EntryRows.Length <= MaxBatchTokens)
                {
                    var next = queue.Pending.Dequeue();
                    rows += next.EntryRows.Length;
                    batch.Add(next);
                }
            }

            try
            {
                Compute(model, batch);
                foreach (var w in batch)
                {
                    w.Done.TrySetResult();
                }
            }
            catch (Exception e)
            {
                foreach (var w in batch)
                {
                    w.Done.TrySetException(e);
                }
            }
        }
    }

    private void Compute(ServedModel model, List<Work> batch)
    {
        Interlocked.Increment(ref _batches);
        var h = model.Spec.Hidden;
        var started = Stopwatch.GetTimestamp();
        long copied = 0, tokens = 0, calls = 0;
        if (batch.Count == 1)
        {
            // One step's work (the common case): its groups are already one per expert, ascending, so they run as they
            // are, with no per-expert lists.
            var work = batch[0];
            var most = 0;
            for (var g = 0; g < work.Experts.Length; g++)
            {
                most = Math.Max(most, work.GroupStarts[g + 1] - work.GroupStarts[g]);
            }

            var one = new (Work Work, int Group)[1];
            WithBuffers(most * h, (input, output) =>
            {
                for (var g = 0; g < work.Experts.Length; g++)
                {
                    one[0] = (work, g);
                    var count = work.GroupStarts[g + 1] - work.GroupStarts[g];
                    copied += RunExpert(model, work.Weights[g], one, count, input, output);
                    tokens += count;
                }
            });
            calls = work.Experts.Length;
        }
        else
        {
            // Per expert, in ascending order, the (work, group) pairs that run it. The works share model, layer and
            // pod, so an expert is one replica; its weights are the first work's (a later one may hold a newer
            // activation's).
            var byExpert = new SortedDictionary<int, List<(Work Work, int Group)>>();
            var weightsOf = new Dictionary<int, ExpertWeights>();
            foreach (var w in batch)
            {
                for (var g = 0; g < w.Experts.Length; g++)
                {
                    var key = w.Experts[g];
                    weightsOf.TryAdd(key, w.Weights[g]);
                    if (!byExpert.TryGetValue(key, out var list))
                    {
                        byExpert[key] = list = [];
                    }

                    list.Add((w, g));
                }
            }

            var most = byExpert.Values.Max(list => list.Sum(p => p.Work.GroupStarts[p.Group + 1] - p.Work.GroupStarts[p.Group]));
            WithBuffers(most * h, (input, output) =>
            {
                foreach (var (key, list) in byExpert)
                {
                    var count = list.Sum(p => p.Work.GroupStarts[p.Group + 1] - p.Work.GroupStarts[p.Group]);
                    copied += RunExpert(model, weightsOf[key], CollectionsMarshal.AsSpan(list), count, input, output);
                    tokens += count;
                }
            });
            calls = byExpert.Count;
        }

        metrics.KernelSeconds.WithLabels(model.Name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        metrics.KernelTokens.WithLabels(model.Name).Inc(tokens);
        metrics.ExpertCalls.Inc(calls);
        metrics.ActivationCopies.WithLabels(model.Name).Inc(copied);
    }

    /// <summary>Runs <paramref name="body"/> with two pooled scratch buffers of at least <paramref name="length"/> floats.</summary>
    private static void WithBuffers(int length, Action<float[], float[]> body)
    {
        var input = ArrayPool<float>.Shared.Rent(Math.Max(1, length));
        var output = ArrayPool<float>.Shared.Rent(Math.Max(1, length));
        try
        {
            body(input, output);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(input);
            ArrayPool<float>.Shared.Return(output);
        }
    }

    /// <summary>
    /// Runs one expert on the <paramref name="count"/> rows of <paramref name="members"/>' groups and adds each output
    /// row, scaled by its gate weight, to its row of y. A single row runs in place; more are gathered into
    /// <paramref name="input"/>. Returns the rows gathered.
    /// </summary>
    private static long RunExpert(ServedModel model, ExpertWeights weights, ReadOnlySpan<(Work Work, int Group)> members, int count, float[] input, float[] output)
    {
        var h = model.Spec.Hidden;
        ReadOnlySpan<float> rows;
        long copied = 0;
        if (count == 1)
        {
            var (w, g) = members[0];
            rows = w.X.Span.Slice(w.EntryRows[w.GroupStarts[g]] * h, h);
        }
        else
        {
            var i = 0;
            foreach (var (w, g) in members)
            {
                var x = w.X.Span;
                for (var e = w.GroupStarts[g]; e < w.GroupStarts[g + 1]; e++)
                {
                    x.Slice(w.EntryRows[e] * h, h).CopyTo(input.AsSpan(i++ * h, h));
                }
            }

            rows = input.AsSpan(0, count * h);
            copied = count;
        }

        var outputs = output.AsSpan(0, count * h);
        model.Kernel.Forward(weights, rows, outputs, count);
        var o = 0;
        foreach (var (w, g) in members)
        {
            var y = w.Y.Span;
            for (var e = w.GroupStarts[g]; e < w.GroupStarts[g + 1]; e++)
            {
                VectorMath.MultiplyAdd(outputs.Slice(o++ * h, h), w.EntryWeights[e], y.Slice(w.EntryRows[e] * h, h));
            }
        }

        return copied;
    }

    private sealed record Work(int[] Experts, ExpertWeights[] Weights, int[] GroupStarts, int[] EntryRows, float[] EntryWeights, ReadOnlyMemory<float> X, Memory<float> Y)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class LayerQueue
    {
        public Queue<Work> Pending { get; } = new();

        public bool Busy { get; set; }
    }
}
