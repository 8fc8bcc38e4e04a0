namespace MoeCloud.Operator.Controllers;

/// <summary>Exponential backoff: <c>base · 2^(failures-1)</c>, capped.</summary>
public static class Backoff
{
    public static TimeSpan Exponential(int failures, TimeSpan initial, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(failures);
        if (failures == 0)
        {
            return TimeSpan.Zero;
        }

        var factor = Math.Pow(2, Math.Min(failures - 1, 30));
        var delay = initial.TotalMilliseconds * factor;
        return delay >= max.TotalMilliseconds ? max : TimeSpan.FromMilliseconds(delay);
    }
}
