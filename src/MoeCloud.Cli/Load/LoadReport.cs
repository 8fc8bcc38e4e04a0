namespace MoeCloud.Cli.Load;

/// <summary>One request of a load run, as the run recorded it.</summary>
/// <param name="ArrivalSeconds">When the schedule said to send it, seconds into the run.</param>
/// <param name="LatencyMs">Milliseconds from that arrival time to its answer (the wait for a late send included); null when it failed or was dropped.</param>
/// <param name="Outcome">Served, failed or dropped.</param>
public readonly record struct LoadSample(double ArrivalSeconds, double? LatencyMs, LoadOutcome Outcome);

/// <summary>What became of a request.</summary>
public enum LoadOutcome
{
    /// <summary>Answered.</summary>
    Served,

    /// <summary>Sent, and answered with an error (or none before its deadline).</summary>
    Failed,

    /// <summary>Not sent: the concurrency cap was reached at its arrival time.</summary>
    Dropped,
}

/// <summary>The figures of one window (of requests by arrival time) or of the whole run.</summary>
/// <param name="StartSeconds">Start of the window, seconds into the run.</param>
/// <param name="EndSeconds">Its end.</param>
/// <param name="Requests">Requests whose arrival fell in it (sent or dropped).</param>
/// <param name="Served">Of them, answered.</param>
/// <param name="Failed">Sent and failed.</param>
/// <param name="Dropped">Not sent because the concurrency cap was reached.</param>
/// <param name="RequestsPerSecond">Served requests per second of the window.</param>
/// <param name="TokensPerSecond">Served tokens per second of the window.</param>
/// <param name="P50Ms">Median latency of the served requests (ms); null when none was served.</param>
/// <param name="P95Ms">95th percentile.</param>
/// <param name="P99Ms">99th percentile.</param>
/// <param name="SloAttainment">Share of the requests served within the SLO (failed and dropped ones miss it); null when there were none.</param>
/// <param name="WithinSlo">Whether the p99 of all its requests, failed and dropped counting as beyond the SLO, is within it; null when there were none.</param>
public sealed record LoadWindow(
    double StartSeconds,
    double EndSeconds,
    long Requests,
    long Served,
    long Failed,
    long Dropped,
    double RequestsPerSecond,
    double TokensPerSecond,
    double? P50Ms,
    double? P95Ms,
    double? P99Ms,
    double? SloAttainment,
    bool? WithinSlo);

/// <summary>Figures of the whole run.</summary>
/// <param name="All">The run as one window.</param>
/// <param name="Late">Requests sent more than <see cref="LoadReport.LateAfterMs"/> after their arrival time (the generator fell behind).</param>
/// <param name="WindowSloAttainment">Share of the windows with requests that are within the SLO (<see cref="LoadWindow.WithinSlo"/>); null when none had requests.</param>
public sealed record LoadTotals(LoadWindow All, long Late, double? WindowSloAttainment);

/// <summary>
/// The report of a load run: each window of <see cref="WindowSeconds"/> (requests by arrival time, so a window's
/// figures are those of the load offered in it) and the totals. Built by <see cref="Build"/> from the recorded samples,
/// without any clock, so that it is the same for the same samples.
/// </summary>
/// <param name="Pattern">The load offered.</param>
/// <param name="Tokens">Tokens per request.</param>
/// <param name="SloMs">The latency target (ms).</param>
/// <param name="WindowSeconds">Window length (s).</param>
/// <param name="Windows">The windows in order; the last may be shorter.</param>
/// <param name="Totals">The whole run.</param>
public sealed record LoadReport(LoadPattern Pattern, int Tokens, double SloMs, double WindowSeconds, IReadOnlyList<LoadWindow> Windows, LoadTotals Totals)
{
    /// <summary>A send this much after its arrival time counts as late.</summary>
    public const double LateAfterMs = 10;

    /// <summary>Aggregates <paramref name="samples"/> of a run of <paramref name="pattern"/> into windows and totals.</summary>
    public static LoadReport Build(LoadPattern pattern, IReadOnlyList<LoadSample> samples, int tokens, double sloMs, double windowSeconds, long late)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        if (!(sloMs > 0) || !(windowSeconds > 0))
        {
            throw new ArgumentException($"The SLO and the window must be positive (got {sloMs} ms and {windowSeconds} s).");
        }

        var duration = pattern.DurationSeconds;
        var count = Math.Max(1, (int)Math.Ceiling((duration / windowSeconds) - 1e-9));
        var buckets = Enumerable.Range(0, count).Select(_ => new List<LoadSample>()).ToArray();
        foreach (var sample in samples)
        {
            buckets[Math.Clamp((int)Math.Floor(sample.ArrivalSeconds / windowSeconds), 0, count - 1)].Add(sample);
        }

        var windows = buckets.Select((b, i) => Window(b, i * windowSeconds, Math.Min(duration, (i + 1) * windowSeconds), tokens, sloMs)).ToArray();
        var judged = windows.Where(w => w.WithinSlo is not null).ToArray();
        var totals = new LoadTotals(Window(samples, 0, duration, tokens, sloMs), late, judged.Length == 0 ? null : (double)judged.Count(w => w.WithinSlo == true) / judged.Length);
        return new LoadReport(pattern, tokens, sloMs, windowSeconds, windows, totals);
    }

    /// <summary>The nearest-rank <paramref name="q"/>-quantile of sorted values: the ⌈q·n⌉-th smallest; null when empty.</summary>
    public static double? Percentile(IReadOnlyList<double> sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        return sorted.Count == 0 ? null : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static LoadWindow Window(IReadOnlyCollection<LoadSample> samples, double start, double end, int tokens, double sloMs)
    {
        var served = samples.Where(s => s.Outcome == LoadOutcome.Served && s.LatencyMs is not null).Select(s => s.LatencyMs!.Value).Order().ToArray();
        var failed = samples.Count(s => s.Outcome == LoadOutcome.Failed);
        var dropped = samples.Count(s => s.Outcome == LoadOutcome.Dropped);
        var seconds = Math.Max(end - start, 1e-9);
        double? attainment = null;
        bool? within = null;
        if (samples.Count > 0)
        {
            attainment = (double)served.Count(l => l <= sloMs) / samples.Count;
            // Failed and dropped requests sort after every served one, beyond the target.
            var all = served.Concat(Enumerable.Repeat(double.PositiveInfinity, samples.Count - served.Length)).ToArray();
            within = Percentile(all, 0.99) <= sloMs;
        }

        return new LoadWindow(start, end, samples.Count, served.Length, failed, dropped, served.Length / seconds, (double)served.Length * tokens / seconds, Percentile(served, 0.50), Percentile(served, 0.95), Percentile(served, 0.99), attainment, within);
    }
}
