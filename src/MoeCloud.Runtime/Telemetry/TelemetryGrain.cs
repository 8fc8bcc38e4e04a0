using Microsoft.Extensions.Options;
using MoeCloud.Abstractions;
using MoeCloud.Runtime.Hosting;
using Orleans.Streams;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// Sums the telemetry deltas of every silo for one model over a window of recent traffic
/// (<see cref="MoeCloudSiloOptions.TelemetryWindowTokens"/> of the silo it runs on; see <see cref="TelemetryWindow"/>),
/// beside lifetime token and dispatch totals. Activated by the deltas themselves (implicit stream subscription). Memory:
/// dense <c>[layers, experts]</c> and <c>[layers − 1, experts, experts]</c> counts per quarter-window bucket (at most
/// six buckets, one a spare for reuse) plus at most <see cref="TelemetryWindow.SampleCap"/> sampled tokens; it does not
/// grow with the window or the traffic.
/// </summary>
[ImplicitStreamSubscription(StreamNamespace)]
public sealed class TelemetryGrain(IOptions<MoeCloudSiloOptions> options) : Grain, ITelemetryGrain
{
    /// <summary>The stream provider's name.</summary>
    public const string StreamProvider = "moecloud-telemetry";

    /// <summary>The stream namespace; the stream key is the model name.</summary>
    public const string StreamNamespace = "moecloud.telemetry";

    private TelemetryWindow? _window;
    private long _deltas;

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var stream = this.GetStreamProvider(StreamProvider).GetStream<TelemetryDelta>(StreamId.Create(StreamNamespace, this.GetPrimaryKeyString()));
        await stream.SubscribeAsync((delta, _) =>
        {
            Merge(delta);
            return Task.CompletedTask;
        });
    }

    /// <inheritdoc />
    public Task<TelemetryTotals?> GetTotals() =>
        Task.FromResult(_window?.ToTotals(this.GetPrimaryKeyString(), _deltas));

    /// <inheritdoc />
    public Task<TelemetryLoad?> GetLoad() =>
        Task.FromResult(_window?.ToLoad(this.GetPrimaryKeyString()));

    /// <inheritdoc />
    public Task Reset()
    {
        _window = null;
        _deltas = 0;
        return Task.CompletedTask;
    }

    private void Merge(TelemetryDelta delta)
    {
        if (_window is null || !_window.Fits(delta))
        {
            // A new model shape (the model was replaced under its name): the old counts describe another model.
            _window = new TelemetryWindow(delta.Layers, delta.Experts, delta.TopK, options.Value.TelemetryWindowTokens);
        }

        _window.Add(delta);
        _deltas++;
    }
}
