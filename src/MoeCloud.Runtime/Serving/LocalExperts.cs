using System.Collections.Concurrent;
using MoeCloud.Abstractions;
using MoeCloud.Model.Weights;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// The weights of the expert replicas activated on this silo, for the hot path to run in process. An
/// <see cref="Grains.ExpertGrain"/> adds its weights when it activates and removes them when it deactivates, so what is
/// here is exactly what the plan has activated (and not yet retired) on this silo.
/// </summary>
public sealed class LocalExperts
{
    private readonly ConcurrentDictionary<(string Model, int Pod), ExpertWeights?[]> _tables = new();

    /// <summary>Replicas present, over all models.</summary>
    public int Count => _tables.Values.Sum(t => t.Count(w => w is not null));

    /// <summary>Makes <paramref name="weights"/> reachable as replica <paramref name="key"/>.</summary>
    public void Add(ExpertReplicaKey key, ExpertWeights weights, int layers, int experts)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var table = _tables.GetOrAdd((key.Model, key.Pod), _ => new ExpertWeights?[layers * experts]);
        Volatile.Write(ref table[Index(key, experts, table.Length)], weights);
    }

    /// <summary>Removes replica <paramref name="key"/> if it still holds <paramref name="weights"/>.</summary>
    public void Remove(ExpertReplicaKey key, ExpertWeights weights, int experts)
    {
        if (_tables.TryGetValue((key.Model, key.Pod), out var table))
        {
            Interlocked.CompareExchange(ref table[Index(key, experts, table.Length)], null, weights);
        }
    }

    /// <summary>The replicas of <paramref name="model"/> keyed to <paramref name="pod"/>, indexed <c>layer × experts + expert</c>; null when none was ever added.</summary>
    public ExpertWeights?[]? Table(string model, int pod) => _tables.GetValueOrDefault((model, pod));

    private static int Index(ExpertReplicaKey key, int experts, int length)
    {
        var i = (key.Layer * experts) + key.Expert;
        return (uint)i < (uint)length ? i : throw new ArgumentOutOfRangeException(nameof(key), $"Replica {key} is outside the model's {length / experts} layers × {experts} experts.");
    }
}
