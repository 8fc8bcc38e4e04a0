namespace MoeCloud.Runtime.Plans;

/// <summary>
/// The plan snapshot this silo serves with, per model; swapped atomically when the pod agent adopts a new version.
/// A request step reads the snapshot once at its start, so a switch never changes a request half-way.
/// </summary>
public sealed class SiloPlanState
{
    private volatile Dictionary<string, PlanSnapshot> _plans = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Raised after a new version is adopted.</summary>
    public event Action<PlanSnapshot>? Adopted;

    /// <summary>The snapshot of <paramref name="model"/>, or null when none was adopted yet.</summary>
    public PlanSnapshot? Get(string model) => _plans.GetValueOrDefault(model);

    /// <summary>Adopts <paramref name="plan"/> unless an equal or newer version is already adopted; returns whether it was.</summary>
    public bool Adopt(PlanSnapshot plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        lock (_gate)
        {
            if (_plans.TryGetValue(plan.Model, out var current) && current.Version >= plan.Version)
            {
                return false;
            }

            _plans = new Dictionary<string, PlanSnapshot>(_plans, StringComparer.Ordinal) { [plan.Model] = plan };
        }

        Adopted?.Invoke(plan);
        return true;
    }

    /// <summary>All adopted plans.</summary>
    public IReadOnlyCollection<PlanSnapshot> All => _plans.Values;
}
