using System.Collections.Concurrent;
using MoeCloud.Abstractions;
using MoeCloud.Placement.Plans;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>
/// Pre-scheduling hints: after the homes are chosen, the replicas a token is predicted to need off its home pod (its
/// first layer's experts) are asked to warm (<see cref="IExpertGrain.Warm"/>: activate, load weights, run once) so the
/// real dispatch does not pay for the activation. Fire-and-forget, at most once per replica per <see cref="Interval"/>;
/// a hint never delays or fails a request.
/// </summary>
public sealed class WarmupHints(IGrainFactory grains, TimeProvider time)
{
    /// <summary>How long a replica counts as warm after a hint.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<ExpertReplicaKey, long> _sent = new();
    private long _hints;

    /// <summary>Hints sent so far.</summary>
    public long Sent => Interlocked.Read(ref _hints);

    /// <summary>Hints the remote replicas that <paramref name="firstLayer"/> (<c>[tokens, topK]</c>) will need, given each token's home.</summary>
    public void Send(string model, PlacementPlan? plan, int layer, ReadOnlySpan<short> firstLayer, ReadOnlySpan<int> homes, int topK)
    {
        if (plan is null || layer >= plan.Layers)
        {
            return;
        }

        var now = time.GetTimestamp();
        var ttl = (long)(Interval.TotalSeconds * time.TimestampFrequency);
        for (var t = 0; t < homes.Length; t++)
        {
            foreach (var expert in firstLayer.Slice(t * topK, topK))
            {
                if (plan.Holds(homes[t], layer, expert))
                {
                    continue;
                }

                var pods = plan.PodsOf(layer, expert);
                var key = new ExpertReplicaKey(model, layer, expert, pods[t % pods.Length]);
                if (_sent.TryGetValue(key, out var last) && now - last < ttl)
                {
                    continue;
                }

                _sent[key] = now;
                Interlocked.Increment(ref _hints);
                _ = grains.GetGrain<IExpertGrain>(key.ToString()).Warm().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            }
        }
    }
}
