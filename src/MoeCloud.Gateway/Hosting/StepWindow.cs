namespace MoeCloud.Gateway.Hosting;

/// <summary>What a <see cref="StepWindow"/> holds for its last <see cref="Window"/>.</summary>
/// <param name="Window">The span the figures cover.</param>
/// <param name="Requests">Steps finished in the window (any outcome).</param>
/// <param name="Failed">Of them, steps that failed.</param>
/// <param name="Tokens">Tokens of the steps served in the window.</param>
/// <param name="P50Ms">Median latency of the served steps (milliseconds); null when none was served.</param>
/// <param name="P95Ms">95th percentile of the same.</param>
/// <param name="P99Ms">99th percentile of the same.</param>
public sealed record StepWindowSummary(TimeSpan Window, long Requests, long Failed, long Tokens, double? P50Ms, double? P95Ms, double? P99Ms)
{
    /// <summary>Tokens served per second over the window.</summary>
    public double TokensPerSecond => Tokens / Window.TotalSeconds;
}

/// <summary>
/// A sliding window over finished forward steps of one model, in bounded memory: counts (steps, failures, tokens) in
/// one-second slots, exact at any rate, and the latencies of the latest <see cref="Samples"/> served steps with their
/// finishing times, from which the percentiles of those inside the window are taken (nearest rank). Above
/// <see cref="Samples"/> steps per window the percentiles cover the latest <see cref="Samples"/>. Recording takes a
/// lock and a few stores, no allocation; reading sorts at most <see cref="Samples"/> numbers. Thread-safe; time comes
/// from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class StepWindow
{
    /// <summary>Latency samples kept by default.</summary>
    public const int DefaultSamples = 8192;

    private readonly TimeProvider _time;
    private readonly long _slotTicks;
    private readonly long[] _slotIndex;
    private readonly long[] _slotRequests;
    private readonly long[] _slotFailed;
    private readonly long[] _slotTokens;
    private readonly long[] _sampleAt;
    private readonly double[] _sampleMs;
    private readonly Lock _gate = new();
    private int _next;
    private int _held;

    /// <summary>Creates a window of <paramref name="window"/> (whole seconds, 1 s to 1 h) keeping <paramref name="samples"/> latencies (16 to 1 048 576).</summary>
    public StepWindow(TimeSpan window, TimeProvider time, int samples = DefaultSamples)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (window < TimeSpan.FromSeconds(1) || window > TimeSpan.FromHours(1) || window.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, "The window must be whole seconds in [1 s, 1 h].");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 16);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(samples, 1 << 20);
        _time = time;
        Window = window;
        Samples = samples;
        _slotTicks = time.TimestampFrequency;
        var slots = (int)window.TotalSeconds;
        _slotIndex = new long[slots];
        Array.Fill(_slotIndex, long.MinValue);
        _slotRequests = new long[slots];
        _slotFailed = new long[slots];
        _slotTokens = new long[slots];
        _sampleAt = new long[samples];
        _sampleMs = new double[samples];
    }

    /// <summary>The span the figures cover.</summary>
    public TimeSpan Window { get; }

    /// <summary>Latency samples kept.</summary>
    public int Samples { get; }

    /// <summary>Records a served step of <paramref name="tokens"/> that took <paramref name="latency"/>.</summary>
    public void Served(int tokens, TimeSpan latency) => Record(tokens, latency.TotalMilliseconds, failed: false);

    /// <summary>Records a step that failed (it counts, its latency does not).</summary>
    public void Failed() => Record(0, 0, failed: true);

    /// <summary>The figures of the last <see cref="Window"/>.</summary>
    public StepWindowSummary Read()
    {
        var now = _time.GetTimestamp();
        var slot = now / _slotTicks;
        var oldest = now - (_slotTicks * _slotIndex.Length);
        long requests = 0, failed = 0, tokens = 0;
        double[] latencies;
        lock (_gate)
        {
            for (var i = 0; i < _slotIndex.Length; i++)
            {
                // A slot counts while its second is one of the window's (the current, partial second included).
                if (_slotIndex[i] > slot - _slotIndex.Length && _slotIndex[i] <= slot)
                {
                    requests += _slotRequests[i];
                    failed += _slotFailed[i];
                    tokens += _slotTokens[i];
                }
            }

            var inWindow = 0;
            for (var i = 0; i < _held; i++)
            {
                inWindow += _sampleAt[i] > oldest ? 1 : 0;
            }

            latencies = new double[inWindow];
            for (int i = 0, j = 0; i < _held; i++)
            {
                if (_sampleAt[i] > oldest)
                {
                    latencies[j++] = _sampleMs[i];
                }
            }
        }

        Array.Sort(latencies);
        return new StepWindowSummary(Window, requests, failed, tokens, Rank(latencies, 0.50), Rank(latencies, 0.95), Rank(latencies, 0.99));
    }

    /// <summary>The nearest-rank <paramref name="q"/>-quantile of sorted values: the ⌈q·n⌉-th smallest; null when empty.</summary>
    private static double? Rank(double[] sorted, double q) =>
        sorted.Length == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    private void Record(int tokens, double milliseconds, bool failed)
    {
        var now = _time.GetTimestamp();
        var slot = now / _slotTicks;
        var at = (int)(slot % _slotIndex.Length);
        lock (_gate)
        {
            if (_slotIndex[at] != slot)
            {
                _slotIndex[at] = slot;
                _slotRequests[at] = 0;
                _slotFailed[at] = 0;
                _slotTokens[at] = 0;
            }

            _slotRequests[at]++;
            if (failed)
            {
                _slotFailed[at]++;
                return;
            }

            _slotTokens[at] += tokens;
            _sampleAt[_next] = now;
            _sampleMs[_next] = milliseconds;
            _next = (_next + 1) % Samples;
            _held = Math.Min(_held + 1, Samples);
        }
    }
}
