using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Protos;
using MoeCloud.Gateway.Hosting;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace MoeCloud.Gateway.Forwarding;

/// <summary>
/// The pods the gateway forwards to, kept by YARP: one cluster (<see cref="ClusterId"/>) whose destinations are the pods'
/// runner endpoints, with active health checks on each pod's <c>/readyz</c> and passive health from failed forwards.
/// Destinations are an immutable snapshot swapped atomically (<see cref="InMemoryConfigProvider"/>); a pod that is
/// unhealthy, or that left the live plan, is not offered. Also keeps one gRPC channel and an in-flight count per pod.
/// </summary>
public sealed class PodDirectory(InMemoryConfigProvider config, IProxyStateLookup state, IDestinationHealthUpdater health, IOptions<GatewayOptions> options) : IDisposable
{
    /// <summary>The YARP cluster of the pods.</summary>
    public const string ClusterId = "pods";

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, int> _inflight = new();
    private volatile IReadOnlyList<GatewayPod> _pods = [];
    private volatile IReadOnlySet<int>? _planPods;

    /// <summary>Builds YARP's configuration for <paramref name="pods"/> (also used at start-up).</summary>
    public static ClusterConfig Cluster(IEnumerable<GatewayPod> pods) => new()
    {
        ClusterId = ClusterId,
        LoadBalancingPolicy = Yarp.ReverseProxy.LoadBalancing.LoadBalancingPolicies.LeastRequests,
        Destinations = pods.ToDictionary(
            p => DestinationId(p.Pod),
            p => new DestinationConfig { Address = p.Runner, Health = p.Ops }),
        HealthCheck = new HealthCheckConfig
        {
            Active = new ActiveHealthCheckConfig { Enabled = true, Interval = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromSeconds(2), Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures, Path = "/readyz" },
            Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = HealthCheckConstants.PassivePolicy.TransportFailureRate, ReactivationPeriod = TimeSpan.FromSeconds(10) },
            AvailableDestinationsPolicy = HealthCheckConstants.AvailableDestinations.HealthyOrPanic,
        },
        // Probes go to the pods' HTTP/1.1 ops endpoint; sub-batches go over the gateway's own HTTP/2 gRPC channels.
        HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { Version = new Version(1, 1), VersionPolicy = HttpVersionPolicy.RequestVersionExact },
    };

    /// <summary>The destination id of a pod.</summary>
    public static string DestinationId(int pod) => $"pod-{pod.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The pods configured now (with their addresses).</summary>
    public IReadOnlyList<GatewayPod> Pods => _pods;

    /// <summary>Replaces the set of pods (membership changed); channels to pods that left or moved are closed.</summary>
    public void SetPods(IReadOnlyList<GatewayPod> pods)
    {
        ArgumentNullException.ThrowIfNull(pods);
        var next = pods.ToArray();
        _pods = next;
        config.Update([], [Cluster(next)]);
        foreach (var address in _channels.Keys.Where(a => !next.Any(p => string.Equals(p.Runner, a, StringComparison.Ordinal))).ToArray())
        {
            if (_channels.TryRemove(address, out var stale))
            {
                stale.Dispose(); // the pod left or moved: calls in flight on it fail over; new ones use the new address
            }
        }
    }

    /// <summary>Restricts forwarding to the pods of the live plan (null: every configured pod).</summary>
    public void SetPlanPods(IReadOnlySet<int>? pods) => _planPods = pods;

    /// <summary>Pods that can take work now: in the plan, and not unhealthy by YARP's active or passive checks.</summary>
    public IReadOnlyList<int> Available()
    {
        var (inPlan, healthy) = Health();
        return healthy.Length > 0 ? healthy : inPlan; // every pod unhealthy: try anyway rather than fail outright
    }

    /// <summary>Pods of the plan, and those of them not unhealthy by YARP's active or passive checks (what the metrics report).</summary>
    public (int Planned, int Healthy) Readiness()
    {
        var (inPlan, healthy) = Health();
        return (inPlan.Length, healthy.Length);
    }

    private (int[] InPlan, int[] Healthy) Health()
    {
        var plan = _planPods;
        var inPlan = _pods.Where(p => plan is null || plan.Contains(p.Pod)).Select(p => p.Pod).ToArray();
        if (!state.TryGetCluster(ClusterId, out var cluster))
        {
            return (inPlan, inPlan);
        }

        var healthy = cluster.Destinations.Values
            .Where(d => d.Health.Active != DestinationHealth.Unhealthy && d.Health.Passive != DestinationHealth.Unhealthy)
            .Select(d => d.DestinationId)
            .ToHashSet(StringComparer.Ordinal);
        return (inPlan, inPlan.Where(p => healthy.Contains(DestinationId(p))).ToArray());
    }

    /// <summary>Requests in flight to a pod.</summary>
    public int InFlight(int pod) => _inflight.GetValueOrDefault(pod);

    /// <summary>A client of the pod's runner and a scope that counts the request in flight.</summary>
    public (MoeService.MoeServiceClient Client, IDisposable InFlight) Open(int pod)
    {
        var address = _pods.FirstOrDefault(p => p.Pod == pod)?.Runner ?? throw new InvalidOperationException($"pod {pod} is not configured");
        var channel = _channels.GetOrAdd(address, a => GrpcChannel.ForAddress(a, new GrpcChannelOptions { MaxReceiveMessageSize = 512 << 20, MaxSendMessageSize = 512 << 20, HttpHandler = RunnerHandler(options.Value.RunnerConnectTimeout) }));
        _inflight.AddOrUpdate(pod, 1, (_, n) => n + 1);
        return (new MoeService.MoeServiceClient(channel), new Scope(() => _inflight.AddOrUpdate(pod, 0, (_, n) => n - 1)));
    }

    /// <summary>
    /// The HTTP/2 handler of a runner channel. A pod cut off the network sends no reset, so without pings every call on
    /// its connection would wait for its deadline (or for the link and TCP's retransmission backoff). While calls are in
    /// flight and nothing has arrived for <c>KeepAlivePingDelay</c>, a ping goes out; one unanswered for
    /// <c>KeepAlivePingTimeout</c> closes the connection, its calls fail with <c>Unavailable</c>, and the forwarder
    /// retries them on other pods. A ping is answered by the pod's HTTP/2 layer, not by its work, in well under a
    /// millisecond; 3 s leaves room for a pod whose threads are all busy, and detection within 4 s leaves the retry
    /// most of a 10 s deadline. A new connection is bounded by <see cref="GatewayOptions.RunnerConnectTimeout"/>: the
    /// address of a pod that is gone may answer nothing.
    /// </summary>
    private static SocketsHttpHandler RunnerHandler(TimeSpan connectTimeout) => new()
    {
        KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
        KeepAlivePingDelay = TimeSpan.FromSeconds(1),
        KeepAlivePingTimeout = TimeSpan.FromSeconds(3),
        ConnectTimeout = connectTimeout,
        EnableMultipleHttp2Connections = true,
    };

    /// <summary>Marks a pod unhealthy after a failed forward (passive health); YARP reactivates it after its period.</summary>
    public void ReportFailure(int pod)
    {
        if (state.TryGetCluster(ClusterId, out var cluster) && cluster.Destinations.TryGetValue(DestinationId(pod), out var destination))
        {
            health.SetPassive(cluster, destination, DestinationHealth.Unhealthy, TimeSpan.FromSeconds(10));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }
    }

    private sealed class Scope(Action dispose) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                dispose();
            }
        }
    }
}
