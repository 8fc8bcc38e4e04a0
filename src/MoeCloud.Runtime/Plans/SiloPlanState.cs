using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace MoeCloud.Runtime.Plans;

/// <summary>
/// The plan snapshot this silo serves with, per model; swapped atomically when the pod agent adopts a new version.
/// A request step reads the snapshot once at its start (<see cref="Acquire"/>), so a switch never changes a request
/// half-way, and the silo counts the steps running on each version so that a rollout can drain an old plan before it
/// retires that plan's replicas (<see cref="WaitDrained"/>).
/// </summary>
public sealed class SiloPlanState
{
    private volatile Dictionary<string, ServingPlan> _plans = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Raised after a new version is adopted.</summary>
    public event Action<ServingPlan>? Adopted;

    /// <summary>The snapshot of <paramref name="model"/>, or null when none was adopted yet.</summary>
    public ServingPlan? Get(string model) => _plans.GetValueOrDefault(model);

    /// <summary>Adopts <paramref name="plan"/> unless an equal or newer version is already adopted; returns whether it was.</summary>
    public bool Adopt(ServingPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        lock (_gate)
        {
            if (_plans.TryGetValue(plan.Model, out var current) && current.Version >= plan.Version)
            {
                return false;
            }

            _plans = new Dictionary<string, ServingPlan>(_plans, StringComparer.Ordinal) { [plan.Model] = plan };
        }

        Adopted?.Invoke(plan);
        return true;
    }

    private readonly ConcurrentDictionary<(string Model, int Version), StrongBox<int>> _running = new();

    /// <summary>
    /// The snapshot a request step of <paramref name="model"/> runs with (null when none was adopted yet), counted as
    /// running on its version until the returned lease is disposed.
    /// </summary>
    public PlanLease Acquire(string model)
    {
        var plan = Get(model);
        if (plan is null)
        {
            return default;
        }

        var count = _running.GetOrAdd((plan.Model, plan.Version), _ => new StrongBox<int>());
        Interlocked.Increment(ref count.Value);
        return new PlanLease(plan, count);
    }

    /// <summary>Request steps of <paramref name="model"/> running on a plan older than <paramref name="version"/>.</summary>
    public int RunningBefore(string model, int version) =>
        _running.Where(p => p.Key.Model == model && p.Key.Version < version).Sum(p => Volatile.Read(ref p.Value.Value));

    /// <summary>
    /// Waits until no step of <paramref name="model"/> runs on a plan older than <paramref name="version"/>, checking
    /// every <paramref name="poll"/>, for at most <paramref name="timeout"/>; returns the steps still running then.
    /// </summary>
    public async Task<int> WaitDrained(string model, int version, TimeSpan timeout, TimeSpan poll, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        var until = time.GetUtcNow() + timeout;
        var running = RunningBefore(model, version);
        while (running > 0 && time.GetUtcNow() < until)
        {
            await Task.Delay(poll, time);
            running = RunningBefore(model, version);
        }

        return running;
    }

    /// <summary>All adopted plans.</summary>
    public IReadOnlyCollection<ServingPlan> All => _plans.Values;
}

/// <summary>A request step's hold on the plan it runs with; dispose it when the step ends.</summary>
public readonly struct PlanLease : IDisposable
{
    private readonly StrongBox<int>? _count;

    internal PlanLease(ServingPlan plan, StrongBox<int> count)
    {
        Plan = plan;
        _count = count;
    }

    /// <summary>The plan, or null when the silo has none for the model.</summary>
    public ServingPlan? Plan { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_count is not null)
        {
            Interlocked.Decrement(ref _count.Value);
        }
    }
}
