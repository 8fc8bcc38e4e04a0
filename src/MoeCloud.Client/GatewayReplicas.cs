using Grpc.Core;
using Grpc.Net.Client;
using MoeCloud.Contracts.Protos;

namespace MoeCloud.Client;

/// <summary>
/// The client's gateway replicas and its retry policy, in one place. Each replica has a channel of its own; a call goes
/// round robin to a usable replica, and is retried on <c>Unavailable</c> or <c>Internal</c> (a broken
/// HTTP/2 connection) with jittered exponential backoff, at most <see cref="MoeCloudClientOptions.MaxAttempts"/>
/// attempts and within the retry budget (gRPC retry throttling: each failed attempt takes a token, each success returns
/// <see cref="MoeCloudClientOptions.RetryTokenRatio"/>, retries only while more than half remain).
/// <para>
/// A call that failed in the transport (a connection refused, reset, broken or never finished: an exception behind the
/// status, where a gateway's own answer has none) sets its replica aside for a backoff (0.5 s, doubling to 8 s while it
/// keeps failing; any answer clears it); when that time is over one call, the probe, tries it while the others still
/// skip it, so that calls do not pile up on a dead address. While another replica is usable, such a call goes there at
/// once, with no backoff and no token, at most once per replica: a dead gateway costs its calls nothing, and a call
/// cannot bounce. With one replica, or all aside, it is an attempt like any other. This is done here rather than with Grpc.Net.Client's round-robin balancer because that
/// balancer keeps a subchannel Ready after the socket it reconnected was found closed (a gateway killed as it
/// reconnected), so every call picked there failed at connect until the gateway listened again (docs/BENCHMARKS.md,
/// Chaos: 145–302 failed calls in 4 of 11 container gateway restarts).
/// </para>
/// </summary>
internal sealed class GatewayReplicas : IDisposable
{
    private static readonly TimeSpan InitialBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FirstSetAside = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan LongestSetAside = TimeSpan.FromSeconds(8);

    private readonly Replica[] _replicas;
    private readonly MoeCloudClientOptions _options;
    private readonly TimeProvider _time = TimeProvider.System;
    private readonly object _tokensLock = new();
    private double _tokens;
    private int _next = -1;

    public GatewayReplicas(IReadOnlyList<Uri> addresses, MoeCloudClientOptions options, Func<HttpMessageHandler> handler)
    {
        if (addresses.Count == 0 || addresses.Any(a => a is null || !a.IsAbsoluteUri || (a.Scheme != Uri.UriSchemeHttp && a.Scheme != Uri.UriSchemeHttps)))
        {
            throw new ArgumentException("Gateway addresses must be one or more absolute http:// or https:// addresses.", nameof(addresses));
        }

        if (addresses.Select(a => a.Scheme).Distinct(StringComparer.Ordinal).Count() != 1)
        {
            throw new ArgumentException($"Gateway addresses must all be http:// or all https:// (got {string.Join(", ", addresses)}).", nameof(addresses));
        }

        _options = options;
        _tokens = options.RetryTokens;
        _replicas = [.. addresses.Select(a => new Replica(GrpcChannel.ForAddress(a, new GrpcChannelOptions
        {
            MaxReceiveMessageSize = 512 << 20,
            MaxSendMessageSize = 512 << 20,
            HttpHandler = handler(),
        })))];
    }

    /// <summary>Runs <paramref name="call"/> under the retry policy; every attempt shares one deadline.</summary>
    public async Task<T> Call<T>(Func<MoeService.MoeServiceClient, CallOptions, AsyncUnaryCall<T>> call, Metadata headers, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow().UtcDateTime + _options.Deadline;
        var attempts = Math.Clamp(_options.MaxAttempts, 1, 5);
        var backoff = InitialBackoff;
        var attempt = 1;
        var transparent = 0;
        while (true)
        {
            var replica = Pick(out var probe);
            try
            {
                var result = await call(replica.Client, new CallOptions(headers, deadline, cancellationToken));
                replica.Succeeded();
                probe = false;
                Returned();
                return result;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal && !cancellationToken.IsCancellationRequested)
            {
                // A failure in the transport (refused, reset, a broken or unfinished HTTP/2 connection) says the
                // replica is unusable, not that a gateway refused the work: it goes aside, and while another is
                // usable the call goes there at once. A gateway's own answer (no exception behind it) is an attempt.
                if (e.Status.DebugException is not null)
                {
                    replica.SetAside(_time.GetUtcNow(), probe);
                    probe = false;
                    if (transparent < _replicas.Length - 1 && _replicas.Any(r => r != replica && r.IsUsable(_time.GetUtcNow())))
                    {
                        transparent++;
                        continue;
                    }
                }
                else
                {
                    replica.Succeeded(); // it answered: reachable, whatever it said
                    probe = false;
                }

                if (!Failed() || attempt >= attempts)
                {
                    throw;
                }

                var delay = TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * backoff.Ticks));
                if (_time.GetUtcNow().UtcDateTime + delay >= deadline)
                {
                    throw;
                }

                await Task.Delay(delay, _time, cancellationToken);
                attempt++;
                transparent = 0;
                backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
            }
            finally
            {
                if (probe)
                {
                    replica.EndProbe();
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var replica in _replicas)
        {
            replica.Channel.Dispose();
        }
    }

    /// <summary>
    /// The next replica round robin that is usable (<see cref="Replica.IsUsable"/>); when none is, the one whose time
    /// aside ends first. <paramref name="probe"/> says whether the call is that replica's probe.
    /// </summary>
    private Replica Pick(out bool probe)
    {
        var now = _time.GetUtcNow();
        var start = _replicas.Length == 1 ? 0 : (int)((uint)Interlocked.Increment(ref _next) % (uint)_replicas.Length);
        for (var i = 0; i < _replicas.Length; i++)
        {
            var replica = _replicas[(start + i) % _replicas.Length];
            if (replica.TryTake(now, force: false, out probe))
            {
                return replica;
            }
        }

        var soonest = _replicas.MinBy(r => r.AsideUntil)!;
        soonest.TryTake(now, force: true, out probe);
        return soonest;
    }

    /// <summary>A failed attempt takes a token; true when a retry is still allowed (more than half the tokens left).</summary>
    private bool Failed()
    {
        lock (_tokensLock)
        {
            _tokens = Math.Max(0, _tokens - 1);
            return _tokens > _options.RetryTokens / 2.0;
        }
    }

    private void Returned()
    {
        lock (_tokensLock)
        {
            _tokens = Math.Min(_options.RetryTokens, _tokens + _options.RetryTokenRatio);
        }
    }

    /// <summary>
    /// One gateway replica and its health: usable; aside until a time; or, once that time has passed, tried again by a
    /// single call (the probe) while the others still skip it, so that calls do not pile up on a dead address.
    /// </summary>
    private sealed class Replica(GrpcChannel channel)
    {
        private readonly object _lock = new();
        private TimeSpan _aside;
        private DateTimeOffset _until;
        private bool _probing;
        private int _failing;

        public GrpcChannel Channel { get; } = channel;

        public MoeService.MoeServiceClient Client { get; } = new(channel);

        public DateTimeOffset AsideUntil
        {
            get
            {
                lock (_lock)
                {
                    return _until;
                }
            }
        }

        /// <summary>True when a call may go here now: healthy, or its time aside over and no probe out.</summary>
        public bool IsUsable(DateTimeOffset now)
        {
            if (Volatile.Read(ref _failing) == 0)
            {
                return true;
            }

            lock (_lock)
            {
                return Free(now);
            }
        }

        /// <summary>Takes the replica for one call; false when another call took its probe first. Sets <paramref name="probe"/> when the call is the probe.</summary>
        public bool TryTake(DateTimeOffset now, bool force, out bool probe)
        {
            probe = false;
            if (Volatile.Read(ref _failing) == 0)
            {
                return true;
            }

            lock (_lock)
            {
                if (_failing == 0)
                {
                    return true;
                }

                if (!force && !Free(now))
                {
                    return false;
                }

                probe = !_probing;
                _probing = true;
                return true;
            }
        }

        /// <summary>Under the lock: healthy, or its time aside over and no probe out.</summary>
        private bool Free(DateTimeOffset now) => _failing == 0 || (now >= _until && !_probing);

        /// <summary>A call here failed in the transport: aside for the backoff, doubled when it was the probe.</summary>
        public void SetAside(DateTimeOffset now, bool probe)
        {
            lock (_lock)
            {
                if (probe)
                {
                    _probing = false;
                }
                else if (_failing != 0 && (now < _until || _probing))
                {
                    return; // already aside: the calls that were in flight on one broken connection count once
                }

                _aside = _aside == TimeSpan.Zero ? FirstSetAside : (_aside * 2 < LongestSetAside ? _aside * 2 : LongestSetAside);
                _until = now + _aside;
                _failing = 1;
            }
        }

        /// <summary>A probe that ended neither served nor failed in the transport (cancelled, past its deadline): the next call may probe.</summary>
        public void EndProbe()
        {
            lock (_lock)
            {
                _probing = false;
            }
        }

        public void Succeeded()
        {
            if (Volatile.Read(ref _failing) == 0)
            {
                return;
            }

            lock (_lock)
            {
                _aside = TimeSpan.Zero;
                _until = default;
                _probing = false;
                _failing = 0;
            }
        }
    }
}
