using System.Globalization;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Gateway.Forwarding;

/// <summary>
/// Keeps the <see cref="PodDirectory"/> on the cluster's membership (<see cref="PodDiscovery.Membership"/>): every
/// active silo whose name ends in a pod number is a destination, at the runner and ops addresses it advertises
/// (<see cref="IPodAgentGrain.Describe"/>, asked once per silo incarnation). A silo that leaves the membership — shut
/// down, or declared dead — stops being a destination at the next refresh; a restarted pod is asked again, and when
/// two incarnations of one pod are both listed the newer one wins.
/// </summary>
public sealed partial class MembershipDiscovery(PodDirectory pods, IGrainFactory grains, ILogger<MembershipDiscovery> logger)
{
    private static readonly TimeSpan DescribeTimeout = TimeSpan.FromSeconds(5);
    private readonly Dictionary<SiloAddress, GatewayPod> _known = [];
    private readonly SemaphoreSlim _refreshing = new(1, 1);

    /// <summary>Reads the membership and updates the destinations when they changed; returns the pods in use.</summary>
    public async Task<IReadOnlyList<GatewayPod>> Refresh(CancellationToken cancellationToken)
    {
        await _refreshing.WaitAsync(cancellationToken);
        try
        {
            var hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).WaitAsync(cancellationToken);
            var found = new List<(GatewayPod Pod, DateTime Started)>();
            var active = new HashSet<SiloAddress>();
            foreach (var host in hosts.Where(h => h.Status == SiloStatus.Active))
            {
                var pod = PodNames.PodOfSiloName(host.SiloName);
                if (pod < 0)
                {
                    continue; // a silo that is not a pod (none today) takes no traffic
                }

                active.Add(host.SiloAddress);
                if (!_known.TryGetValue(host.SiloAddress, out var endpoint))
                {
                    endpoint = await Describe(pod, host.SiloName, cancellationToken);
                    if (endpoint is null)
                    {
                        continue;
                    }

                    _known[host.SiloAddress] = endpoint;
                    LogDiscovered(logger, pod, host.SiloName, endpoint.Runner);
                }

                found.Add((endpoint, host.StartTime));
            }

            foreach (var gone in _known.Keys.Where(k => !active.Contains(k)).ToArray())
            {
                LogLeft(logger, _known[gone].Pod, gone.ToString());
                _known.Remove(gone);
            }

            var current = found.GroupBy(f => f.Pod.Pod).Select(g => g.MaxBy(f => f.Started).Pod).OrderBy(p => p.Pod).ToArray();
            if (!current.Select(Identity).SequenceEqual(pods.Pods.Select(Identity), StringComparer.Ordinal))
            {
                pods.SetPods(current);
            }

            return current;
        }
        finally
        {
            _refreshing.Release();
        }
    }

    private static string Identity(GatewayPod pod) => string.Create(CultureInfo.InvariantCulture, $"{pod.Pod} {pod.Runner} {pod.Ops} {pod.ExpertBackend}");

    private async Task<GatewayPod?> Describe(int pod, string siloName, CancellationToken cancellationToken)
    {
        try
        {
            var described = await grains.GetGrain<IPodAgentGrain>(pod.ToString(CultureInfo.InvariantCulture)).Describe().WaitAsync(DescribeTimeout, cancellationToken);
            if (!string.Equals(described.SiloName, siloName, StringComparison.Ordinal))
            {
                // The agent lives on another silo (placed while this pod was away); it deactivates, ask again next time.
                LogMisplaced(logger, pod, described.SiloName, siloName);
                return null;
            }

            return new GatewayPod { Pod = pod, Runner = described.Runner, Ops = described.Ops, ExpertBackend = described.ExpertBackend };
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogDescribeFailed(logger, e, pod, siloName);
            return null;
        }
    }

    [LoggerMessage(EventId = 6120, Level = LogLevel.Information, Message = "Pod {Pod} ({Silo}) joined: runner {Runner}")]
    private static partial void LogDiscovered(ILogger logger, int pod, string silo, string runner);

    [LoggerMessage(EventId = 6121, Level = LogLevel.Information, Message = "Pod {Pod} (silo {Silo}) left the cluster")]
    private static partial void LogLeft(ILogger logger, int pod, string silo);

    [LoggerMessage(EventId = 6122, Level = LogLevel.Warning, Message = "Pod {Pod}'s agent answered from {Answered}, not from {Expected}; asking again at the next refresh")]
    private static partial void LogMisplaced(ILogger logger, int pod, string answered, string expected);

    [LoggerMessage(EventId = 6123, Level = LogLevel.Warning, Message = "Pod {Pod} ({Silo}) did not say where it serves; asking again at the next refresh")]
    private static partial void LogDescribeFailed(ILogger logger, Exception exception, int pod, string silo);
}
