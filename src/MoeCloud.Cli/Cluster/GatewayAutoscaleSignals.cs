using MoeCloud.Abstractions;
using MoeCloud.Gateway.Api;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// The signals of a local cluster for its <see cref="LocalAutoscaler"/>: the serving signals of an in-process
/// <see cref="LocalGateway"/> (what its <c>GET admin/v1/serving</c> returns) and the windowed live profile from the
/// model's telemetry grain (what <c>GET admin/v1/profile</c> returns), as the Placement library's types.
/// </summary>
/// <param name="gateway">The gateway whose serving signals are read.</param>
/// <param name="grains">The cluster's grains (telemetry).</param>
/// <param name="model">The model.</param>
public sealed class GatewayAutoscaleSignals(LocalGateway gateway, IGrainFactory grains, string model) : IAutoscaleSignals
{
    /// <inheritdoc />
    public ServingSample? ReadServing(DateTimeOffset now) =>
        gateway.Serving.Read(model) is { } s ? new ServingSample(now, s.Requests, s.StepP99Ms, s.QueueDepth, s.PlacedPods) : null;

    /// <inheritdoc />
    public async Task<WorkloadProfile?> ReadLoadAsync(CancellationToken cancellationToken)
    {
        var totals = await grains.GetGrain<ITelemetryGrain>(model).GetTotals();
        return totals is null ? null : LiveProfiles.ToWorkload(LiveProfiles.FromTotals(totals).Decode());
    }
}
