using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Coalesces concurrent dispatches to the same expert replica into one kernel call. Per replica at most one call is in
/// flight; dispatches that arrive meanwhile queue, and when the call returns they all leave together as the next batch
/// (up to <see cref="MaxBatchTokens"/> tokens). No timer, no added latency when the replica is idle.
/// </summary>
/// <param name="compute">Sends one batch to one replica and returns its outputs (same shape as the input).</param>
/// <param name="maxBatchTokens">Most tokens in one coalesced call.</param>
public sealed class CoalescingDispatcher(Func<ExpertReplicaKey, HiddenStates, Task<HiddenStates>> compute, int maxBatchTokens = 4096)
{
    private readonly Dictionary<ExpertReplicaKey, ReplicaQueue> _queues = [];
    private readonly Lock _gate = new();
    private long _calls;
    private long _dispatches;

    /// <summary>Most tokens in one coalesced call.</summary>
    public int MaxBatchTokens { get; } = maxBatchTokens > 0 ? maxBatchTokens : throw new ArgumentOutOfRangeException(nameof(maxBatchTokens));

    /// <summary>Calls sent to replicas so far.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Dispatch groups (one per request step, layer and expert) received so far.</summary>
    public long Dispatches => Interlocked.Read(ref _dispatches);

    /// <summary>Batches waiting (not yet sent) over all replicas: the silo's queue depth.</summary>
    public int QueueDepth
    {
        get
        {
            lock (_gate)
            {
                return _queues.Values.Sum(q => q.Pending.Count);
            }
        }
    }

    /// <summary>Runs <paramref name="input"/> on <paramref name="replica"/>, together with whatever else is queued for it.</summary>
    public Task<HiddenStates> Dispatch(ExpertReplicaKey replica, HiddenStates input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Interlocked.Increment(ref _dispatches);
        var item = new Pending(input, new TaskCompletionSource<HiddenStates>(TaskCreationOptions.RunContinuationsAsynchronously));
        List<Pending>? batch = null;
        lock (_gate)
        {
            if (!_queues.TryGetValue(replica, out var queue))
            {
                queue = new ReplicaQueue();
                _queues[replica] = queue;
            }

            queue.Pending.Enqueue(item);
            if (!queue.Busy)
            {
                queue.Busy = true;
                batch = TakeBatch(queue);
            }
        }

        if (batch is not null)
        {
            _ = RunAsync(replica, batch);
        }

        return item.Result.Task;
    }

    private async Task RunAsync(ExpertReplicaKey replica, List<Pending> first)
    {
        List<Pending>? batch = first;
        while (batch is not null)
        {
            Interlocked.Increment(ref _calls);
            try
            {
                var outputs = await compute(replica, Concat(batch));
                Split(batch, outputs);
            }
            catch (Exception e)
            {
                foreach (var p in batch)
                {
                    p.Result.TrySetException(e);
                }
            }

            lock (_gate)
            {
                var queue = _queues[replica];
                if (queue.Pending.Count == 0)
                {
                    queue.Busy = false;
                    _queues.Remove(replica);
                    batch = null;
                }
                else
                {
                    batch = TakeBatch(queue);
                }
            }
        }
    }

    private List<Pending> TakeBatch(ReplicaQueue queue)
    {
        var batch = new List<Pending> { queue.Pending.Dequeue() };
        var tokens = batch[0].Input.Tokens;
        while (queue.Pending.Count > 0 && tokens + queue.Pending.Peek().Input.Tokens <= MaxBatchTokens)
        {
            var next = queue.Pending.Dequeue();
            tokens += next.Input.Tokens;
            batch.Add(next);
        }

        return batch;
    }

    private static HiddenStates Concat(List<Pending> batch)
    {
        if (batch.Count == 1)
        {
            return batch[0].Input;
        }

        var hidden = batch[0].Input.Hidden;
        var tokens = 0;
        foreach (var p in batch)
        {
            if (p.Input.Hidden != hidden)
            {
                throw new ArgumentException($"Dispatches to one replica disagree on the hidden size ({hidden} and {p.Input.Hidden}).");
            }

            tokens += p.Input.Tokens;
        }

        var data = new byte[tokens * hidden * sizeof(float)];
        var offset = 0;
        foreach (var p in batch)
        {
            p.Input.Data.CopyTo(data, offset);
            offset += p.Input.Data.Length;
        }

        return new HiddenStates(tokens, hidden, data);
    }

    private static void Split(List<Pending> batch, HiddenStates outputs)
    {
        if (batch.Count == 1)
        {
            batch[0].Result.TrySetResult(outputs);
            return;
        }

        var offset = 0;
        foreach (var p in batch)
        {
            var bytes = p.Input.Data.Length;
            p.Result.TrySetResult(new HiddenStates(p.Input.Tokens, outputs.Hidden, outputs.Data.AsSpan(offset, bytes).ToArray()));
            offset += bytes;
        }
    }

    private sealed record Pending(HiddenStates Input, TaskCompletionSource<HiddenStates> Result);

    private sealed class ReplicaQueue
    {
        public Queue<Pending> Pending { get; } = new();

        public bool Busy { get; set; }
    }
}
