namespace MoeCloud.Operator.Controllers;

/// <summary>
/// The controller work queue (client-go's contract): a key is queued at most once, is never handed to two workers at
/// once (a key added while it is processed is queued again when <see cref="Done"/> is called), and failed keys come
/// back after a per-key exponential backoff. Delays run on the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class WorkQueue<TKey>(TimeProvider time, TimeSpan baseDelay, TimeSpan maxDelay) : IDisposable
    where TKey : notnull
{
    private readonly Lock _gate = new();
    private readonly Queue<TKey> _queue = new();
    private readonly HashSet<TKey> _dirty = [];
    private readonly HashSet<TKey> _processing = [];
    private readonly Dictionary<TKey, int> _failures = [];
    private readonly Dictionary<TKey, (DateTimeOffset Due, ITimer Timer)> _waiting = [];
    private readonly SemaphoreSlim _ready = new(0);

    /// <summary>Keys queued and not yet taken.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    public void Add(TKey key)
    {
        lock (_gate)
        {
            if (!_dirty.Add(key) || _processing.Contains(key))
            {
                return;
            }

            _queue.Enqueue(key);
        }

        _ready.Release();
    }

    /// <summary>Adds the key after <paramref name="delay"/>; an earlier pending add of the same key wins.</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_gate)
        {
            var due = time.GetUtcNow() + delay;
            if (_waiting.TryGetValue(key, out var pending))
            {
                if (pending.Due <= due)
                {
                    return;
                }

                pending.Timer.Dispose();
            }

            var timer = time.CreateTimer(_ => Fire(key), null, delay, Timeout.InfiniteTimeSpan);
            _waiting[key] = (due, timer);
        }
    }

    /// <summary>Adds the key after its backoff: base · 2^(failures-1), capped; each call counts one failure.</summary>
    public TimeSpan AddRateLimited(TKey key)
    {
        TimeSpan delay;
        lock (_gate)
        {
            var failures = _failures.GetValueOrDefault(key) + 1;
            _failures[key] = failures;
            delay = Backoff.Exponential(failures, baseDelay, maxDelay);
        }

        AddAfter(key, delay);
        return delay;
    }

    /// <summary>Clears the key's failure count (after a successful reconcile).</summary>
    public void Forget(TKey key)
    {
        lock (_gate)
        {
            _failures.Remove(key);
        }
    }

    public int Failures(TKey key)
    {
        lock (_gate)
        {
            return _failures.GetValueOrDefault(key);
        }
    }

    /// <summary>Waits for a key and marks it as being processed; call <see cref="Done"/> when finished.</summary>
    public async Task<TKey> TakeAsync(CancellationToken cancellationToken)
    {
        await _ready.WaitAsync(cancellationToken);
        lock (_gate)
        {
            var key = _queue.Dequeue();
            _dirty.Remove(key);
            _processing.Add(key);
            return key;
        }
    }

    public void Done(TKey key)
    {
        lock (_gate)
        {
            _processing.Remove(key);
            if (!_dirty.Contains(key))
            {
                return;
            }

            _queue.Enqueue(key);
        }

        _ready.Release();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var (_, timer) in _waiting.Values)
            {
                timer.Dispose();
            }

            _waiting.Clear();
        }

        _ready.Dispose();
    }

    private void Fire(TKey key)
    {
        lock (_gate)
        {
            if (_waiting.Remove(key, out var pending))
            {
                pending.Timer.Dispose();
            }
        }

        Add(key);
    }
}
