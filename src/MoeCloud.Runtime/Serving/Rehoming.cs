using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Whether, and with which transition statistics, this silo's runner re-homes tokens between layers
/// (<see cref="MoeCloudSiloOptions.Rehome"/>). The statistics come from the model's profile trace
/// (<see cref="MoeCloudSiloOptions.ProfileTraces"/>), fitted as <c>moectl simulate --rehome</c> fits them, so that the
/// live remote fraction equals the simulator's for the same plan and trace. Without a profile trace the runner does
/// not re-home and says so once in the log.
/// </summary>
public sealed partial class Rehoming(IOptions<MoeCloudSiloOptions> options, ILogger<Rehoming> logger)
{
    private readonly ConcurrentDictionary<string, TransitionModel?> _models = new(StringComparer.Ordinal);

    /// <summary>Whether re-homing is on.</summary>
    public bool Enabled => options.Value.Rehome;

    /// <summary>A predictor for one step on <paramref name="plan"/> (predictors own scratch buffers), or null when this silo does not re-home <paramref name="model"/>.</summary>
    public SpeculativeHomePredictor? Predictor(string model, ServingPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        if (!Enabled)
        {
            return null;
        }

        var transitions = _models.GetOrAdd(model, Load);
        return transitions is null || transitions.Layers != plan.Layers || transitions.Experts != plan.Experts ? null : new SpeculativeHomePredictor(plan.Plan, transitions);
    }

    private TransitionModel? Load(string model)
    {
        if (!options.Value.ProfileTraces.TryGetValue(model, out var dir))
        {
            LogNoProfile(logger, model);
            return null;
        }

        return TransitionModel.FromProfile(WorkloadProfile.FromTrace(TraceDirectory.Read(dir), sampleCap: 0));
    }

    [LoggerMessage(EventId = 5410, Level = LogLevel.Warning, Message = "Re-homing is on, but model {Model} has no profile trace (ProfileTraces); its tokens are not re-homed")]
    private static partial void LogNoProfile(ILogger logger, string model);
}
