namespace MoeCloud.Gateway.Forwarding;

/// <summary>
/// A retry budget (Finagle's and gRPC's retry throttling, in one small bucket): every sub-batch sent deposits
/// <c>ratio</c> of a retry, every retry withdraws one whole retry, and the bucket holds at most <c>reserve</c> retries
/// (it starts full). Over any run of <c>S</c> sends it admits at most <c>reserve + ratio·S</c> retries, so when pods keep
/// failing the gateway sends at most <c>(1 + ratio)·S + reserve</c> sub-batches instead of <c>MaxAttempts·S</c>: retries
/// cannot multiply the load on a cluster that is already failing. Thread-safe; no clock.
/// </summary>
public sealed class RetryBudget
{
    // Whole retries are counted in thousandths so that deposits and withdrawals are exact integers.
    private const long Unit = 1000;
    private readonly long _deposit;
    private readonly long _full;
    private long _balance;

    /// <summary>A full budget of <paramref name="reserve"/> retries (≥ 0), refilled by <paramref name="ratio"/> (in [0, 1]) per send.</summary>
    public RetryBudget(double ratio, int reserve)
    {
        if (ratio is not (>= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The retry ratio must be in [0, 1].");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(reserve);
        _deposit = (long)Math.Round(ratio * Unit);
        _full = Math.Max(reserve, 1) * Unit; // a budget with no reserve still saves its deposits up to one retry
        _balance = reserve * Unit;
    }

    /// <summary>Retries the budget could pay for now (whole ones).</summary>
    public long Available => Interlocked.Read(ref _balance) / Unit;

    /// <summary>Records a first attempt (one sub-batch sent): deposits the ratio.</summary>
    public void Sent()
    {
        long seen, next;
        do
        {
            seen = Interlocked.Read(ref _balance);
            next = Math.Min(_full, seen + _deposit);
        }
        while (seen != next && Interlocked.CompareExchange(ref _balance, next, seen) != seen);
    }

    /// <summary>Takes one retry from the budget if it holds one; false (and nothing taken) otherwise.</summary>
    public bool TryRetry()
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _balance);
            if (seen < Unit)
            {
                return false;
            }
        }
        while (Interlocked.CompareExchange(ref _balance, seen - Unit, seen) != seen);
        return true;
    }
}
