using Microsoft.Extensions.Options;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Gateway.Scheduling;

/// <summary>The models the gateway serves: each one's gates and pre-scheduler, loaded at start-up.</summary>
public sealed class GatewayModels
{
    private readonly Dictionary<string, PreScheduler> _models = new(StringComparer.Ordinal);

    /// <summary>Loads every configured model's gates.</summary>
    public GatewayModels(IOptions<GatewayOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (name, dir) in options.Value.Models)
        {
            var gates = GateModel.Load(name, dir);
            _models[name] = new PreScheduler(gates, options.Value.HomePolicy, new SpeculativeOptions { AffinityMargin = options.Value.SequenceAffinityMargin }, options.Value.SequenceAffinityMaxTokens, options.Value.HomeGranularity, new SplitRule(LinkModel.Parse(options.Value.HomeSplitLink), gates.Spec.Hidden));
        }
    }

    /// <summary>Model names.</summary>
    public IReadOnlyCollection<string> Names => _models.Keys;

    /// <summary>The model's pre-scheduler, or null when unknown.</summary>
    public PreScheduler? Find(string? name) => name is null ? null : _models.GetValueOrDefault(name);
}
