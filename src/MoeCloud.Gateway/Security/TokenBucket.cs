namespace MoeCloud.Gateway.Security;

/// <summary>
/// A token bucket that holds at most <c>capacity</c> tokens and refills continuously at <c>rate</c> tokens per second,
/// measured on an injected <see cref="TimeProvider"/>; it starts full. Over any interval of <c>T</c> seconds it admits
/// at most <c>capacity + rate·T</c> acquisitions, for any positive rate (fractional ones included), and a caller that
/// keeps asking is admitted at <c>rate</c> on average. Thread-safe.
/// </summary>
/// <remarks>
/// There is no timer and no replenishment period: the refill is computed from the timestamps when a token is asked
/// for. The arithmetic is exact: the bucket counts <c>tokens × TimestampFrequency</c> in <see cref="decimal"/>, and
/// elapsed ticks × rate refills it without rounding for any rate written with up to nine significant digits (a rate of
/// 0.5/s is one token every 2 s to the tick, never one every 1.9999999 s).
/// </remarks>
internal sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly decimal _rate;
    private readonly decimal _full;
    private readonly decimal _token;
    private readonly Lock _lock = new();
    private decimal _credit;
    private long _last;

    /// <summary>A full bucket of <paramref name="capacity"/> tokens (at least 1) refilled at <paramref name="rate"/> tokens per second (in [10⁻⁹, 10⁹]).</summary>
    public TokenBucket(double rate, int capacity, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (rate is not (>= 1e-9 and <= 1e9))
        {
            throw new ArgumentOutOfRangeException(nameof(rate), rate, "The rate must be in [1e-9, 1e9] tokens per second.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _time = time;
        _rate = (decimal)rate;
        _token = time.TimestampFrequency;
        _full = capacity * _token;
        _credit = _full;
        _last = time.GetTimestamp();
    }

    /// <summary>Takes one token if the bucket holds one; false (and nothing taken) otherwise.</summary>
    public bool TryAcquire()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (now > _last)
            {
                // At most 2⁶³ ticks × 10⁹ tokens/s: within decimal's range (7.9 × 10²⁸).
                _credit = Math.Min(_full, _credit + ((now - _last) * _rate));
                _last = now;
            }

            if (_credit < _token)
            {
                return false;
            }

            _credit -= _token;
            return true;
        }
    }
}
