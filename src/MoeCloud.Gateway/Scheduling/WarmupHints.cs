using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>
/// Pre-scheduling hints: after the homes are chosen, the replicas a token is predicted to need off its home pod (its
/// first layer's experts) are asked to warm (<see cref="IExpertGrain.Warm"/>: activate, load weights, run once) so the
/// real dispatch does not pay for the activation. The replica hinted is the one the home pod's runner will pick: the
/// library's rule (<see cref="RemoteReplica.ForBatch"/>) with the gateway's view of the load, which sees no dispatches in
/// flight (so an idle runner picks exactly that replica). Fire-and-forget, at most once per replica per
/// <see cref="Interval"/>; a hint never delays or fails a request. The table of recent hints holds at most
/// <c>capacity</c> replicas: when full, expired entries go first, then the oldest half.
/// </summary>
public sealed class WarmupHints(IGrainFactory grains, TimeProvider time, int capacity = WarmupHints.DefaultCapacity)
{
    /// <summary>How long a replica counts as warm after a hint.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    /// <summary>Default bound on the replicas remembered (about 100 bytes each).</summary>
    public const int DefaultCapacity = 65536;

    private readonly int _capacity = capacity >= 2 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "the hint table needs room for at least 2 replicas.");
    private readonly Dictionary<ExpertReplicaKey, long> _sent = [];
    private readonly Lock _gate = new();
    private long _hints;

    /// <summary>Hints sent so far.</summary>
    public long Sent => Interlocked.Read(ref _hints);

    /// <summary>Replicas the table remembers now (never more than the capacity).</summary>
    public int Tracked
    {
        get
        {
            lock (_gate)
            {
                return _sent.Count;
            }
        }
    }

    /// <summary>
    /// Hints the remote replicas that <paramref name="firstLayer"/> (<c>[tokens, topK]</c>) will need, given each token's
    /// home; returns how many hints it sent.
    /// </summary>
    public int Send(string model, PlacementPlan? plan, int layer, ReadOnlySpan<short> firstLayer, ReadOnlySpan<int> homes, int topK)
    {
        var due = Due(model, plan, layer, firstLayer, homes, topK);
        foreach (var key in due)
        {
            Interlocked.Increment(ref _hints);
            _ = grains.GetGrain<IExpertGrain>(key.ToString()).Warm().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
        }

        return due.Count;
    }

    /// <summary>
    /// The replicas to hint now for a step (what <see cref="Send"/> warms), each recorded as hinted: per token and
    /// predicted expert its home pod lacks, the replica the runner on that home pod will pick, unless hinted within
    /// <see cref="Interval"/>.
    /// </summary>
    public IReadOnlyList<ExpertReplicaKey> Due(string model, PlacementPlan? plan, int layer, ReadOnlySpan<short> firstLayer, ReadOnlySpan<int> homes, int topK)
    {
        if (plan is null || layer >= plan.Layers)
        {
            return [];
        }

        var due = new List<ExpertReplicaKey>();
        var idle = new int[plan.PodCount];
        var now = time.GetTimestamp();
        var ttl = (long)(Interval.TotalSeconds * time.TimestampFrequency);
        lock (_gate)
        {
            for (var t = 0; t < homes.Length; t++)
            {
                foreach (var expert in firstLayer.Slice(t * topK, topK))
                {
                    if (plan.Holds(homes[t], layer, expert))
                    {
                        continue;
                    }

                    var pods = plan.PodsOf(layer, expert);
                    var pick = RemoteReplica.ForBatch<int>(idle.AsSpan(0, pods.Length), homes[t], layer, expert, RemoteReplica.DefaultSeed);
                    var key = new ExpertReplicaKey(model, layer, expert, pods[pick]);
                    if (_sent.TryGetValue(key, out var last) && now - last < ttl)
                    {
                        continue;
                    }

                    if (!_sent.ContainsKey(key) && _sent.Count >= _capacity)
                    {
                        MakeRoom(now, ttl);
                    }

                    _sent[key] = now;
                    due.Add(key);
                }
            }
        }

        return due;
    }

    /// <summary>Drops expired entries; when none expired, the oldest half. Called under the lock with the table full.</summary>
    private void MakeRoom(long now, long ttl)
    {
        foreach (var (key, last) in _sent)
        {
            if (now - last >= ttl)
            {
                _sent.Remove(key);
            }
        }

        if (_sent.Count < _capacity)
        {
            return;
        }

        var oldest = _sent.OrderBy(p => p.Value).Take(_sent.Count / 2).Select(p => p.Key).ToArray();
        foreach (var key in oldest)
        {
            _sent.Remove(key);
        }
    }
}
