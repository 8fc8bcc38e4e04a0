using System.Globalization;

namespace MoeCloud.Cli.Load;

/// <summary>The shape of an open-loop load.</summary>
public enum LoadShape
{
    /// <summary><c>rate</c> throughout.</summary>
    Constant,

    /// <summary>A square wave: <c>rate</c> for a period, <c>peak</c> for the next, and so on (default period: a third of the run, so low, high, low).</summary>
    Step,

    /// <summary>Linear from <c>rate</c> at 0 to <c>peak</c> at the period's end (default: the run's end), then <c>peak</c>.</summary>
    Ramp,

    /// <summary><c>rate + (peak − rate)·(1 − cos 2πt/P)/2</c>: from <c>rate</c> up to <c>peak</c> at P/2 and back at P (default P: the run).</summary>
    Sine,
}

/// <summary>
/// An open-loop load: requests per second as a function of time, and the arrival times that follow from it. The
/// i-th request (i = 0, 1, …) arrives when the cumulative rate Λ(t) = ∫₀ᵗ λ reaches i, so a run has ⌈Λ(duration)⌉
/// requests whatever its shape; the schedule is deterministic (no randomness), so that two runs offer the same load.
/// </summary>
public sealed record LoadPattern
{
    /// <summary>Most requests per second (rate or peak).</summary>
    public const double MaxRate = 100_000;

    /// <summary>Most requests in one run (each is kept until the report is built).</summary>
    public const long MaxRequests = 10_000_000;

    /// <summary>Longest run.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromHours(24);

    private LoadPattern(LoadShape shape, double rate, double peak, double period, double duration)
    {
        Shape = shape;
        Rate = rate;
        Peak = peak;
        PeriodSeconds = period;
        DurationSeconds = duration;
    }

    /// <summary>The shape.</summary>
    public LoadShape Shape { get; }

    /// <summary>Base rate (requests/s).</summary>
    public double Rate { get; }

    /// <summary>Peak rate (requests/s; equals <see cref="Rate"/> for a constant load).</summary>
    public double Peak { get; }

    /// <summary>The shape's period in seconds (step: the length of each level; ramp: the rise; sine: one cycle).</summary>
    public double PeriodSeconds { get; }

    /// <summary>The run's length in seconds.</summary>
    public double DurationSeconds { get; }

    /// <summary>Requests in the run: ⌈Λ(duration)⌉.</summary>
    public long Requests => (long)Math.Ceiling(Cumulative(DurationSeconds) - 1e-9);

    /// <summary>
    /// A pattern, checked (at most <see cref="MaxRequests"/> requests in all): <paramref name="shape"/> one of constant, step, ramp, sine; <paramref name="rate"/> in
    /// (0, <see cref="MaxRate"/>]; <paramref name="peak"/> required for step, ramp and sine, at least the rate and at most
    /// <see cref="MaxRate"/>, and refused for constant; <paramref name="periodSeconds"/> positive (default as
    /// <see cref="LoadShape"/> says); <paramref name="durationSeconds"/> in (0, 24 h]. Every problem is reported at once.
    /// </summary>
    /// <exception cref="ArgumentException">Some value is out of range; the message lists each.</exception>
    public static LoadPattern Create(string shape, double rate, double? peak, double? periodSeconds, double durationSeconds)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var problems = new List<string>();
        LoadShape? parsed = shape switch
        {
            "constant" => LoadShape.Constant,
            "step" => LoadShape.Step,
            "ramp" => LoadShape.Ramp,
            "sine" => LoadShape.Sine,
            _ => null,
        };
        if (parsed is null)
        {
            problems.Add($"the pattern must be constant, step, ramp or sine; got '{shape}'");
        }

        if (!double.IsFinite(rate) || rate <= 0 || rate > MaxRate)
        {
            problems.Add($"the rate must be more than 0 and at most {MaxRate.ToString(CultureInfo.InvariantCulture)} requests/s; got {Show(rate)}");
        }

        if (parsed == LoadShape.Constant && peak is not null)
        {
            problems.Add("a constant load takes no peak (--peak is for step, ramp and sine)");
        }
        else if (parsed is not null and not LoadShape.Constant)
        {
            if (peak is not { } p)
            {
                problems.Add($"the {shape} pattern needs a peak rate (--peak)");
            }
            else if (!double.IsFinite(p) || p < rate || p > MaxRate)
            {
                problems.Add($"the peak must be at least the rate ({Show(rate)}) and at most {MaxRate.ToString(CultureInfo.InvariantCulture)} requests/s; got {Show(p)}");
            }
        }

        if (!double.IsFinite(durationSeconds) || durationSeconds <= 0 || durationSeconds > MaxDuration.TotalSeconds)
        {
            problems.Add($"the duration must be more than 0 and at most {MaxDuration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s; got {Show(durationSeconds)}");
        }

        if (periodSeconds is { } q && (!double.IsFinite(q) || q <= 0))
        {
            problems.Add($"the period must be more than 0 s; got {Show(q)}");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", problems) + ".");
        }

        var kind = parsed!.Value;
        var period = periodSeconds ?? (kind == LoadShape.Step ? durationSeconds / 3 : durationSeconds);
        var pattern = new LoadPattern(kind, rate, kind == LoadShape.Constant ? rate : peak!.Value, period, durationSeconds);
        return pattern.Requests <= MaxRequests
            ? pattern
            : throw new ArgumentException($"the run would send {pattern.Requests} requests; at most {MaxRequests} (lower the rate or the duration).");
    }

    /// <summary>The rate λ(t) in requests/s at <paramref name="seconds"/> into the run.</summary>
    public double RateAt(double seconds) => Shape switch
    {
        LoadShape.Constant => Rate,
        LoadShape.Step => ((long)Math.Floor(seconds / PeriodSeconds)) % 2 == 0 ? Rate : Peak,
        LoadShape.Ramp => seconds >= PeriodSeconds ? Peak : Rate + ((Peak - Rate) * seconds / PeriodSeconds),
        _ => Rate + ((Peak - Rate) * (1 - Math.Cos(2 * Math.PI * seconds / PeriodSeconds)) / 2),
    };

    /// <summary>Λ(t) = ∫₀ᵗ λ: requests due by <paramref name="seconds"/> into the run (closed form per shape).</summary>
    public double Cumulative(double seconds)
    {
        var t = Math.Max(0, seconds);
        switch (Shape)
        {
            case LoadShape.Constant:
                return Rate * t;
            case LoadShape.Step:
                var whole = (long)Math.Floor(t / PeriodSeconds);
                var low = (whole + 1) / 2;
                var high = whole / 2;
                var partial = t - (whole * PeriodSeconds);
                return (((low * Rate) + (high * Peak)) * PeriodSeconds) + (partial * (whole % 2 == 0 ? Rate : Peak));
            case LoadShape.Ramp:
                var rising = Math.Min(t, PeriodSeconds);
                return (Rate * rising) + ((Peak - Rate) * rising * rising / (2 * PeriodSeconds)) + (Peak * Math.Max(0, t - PeriodSeconds));
            default:
                return (Rate * t) + ((Peak - Rate) / 2 * (t - (PeriodSeconds / (2 * Math.PI) * Math.Sin(2 * Math.PI * t / PeriodSeconds))));
        }
    }

    /// <summary>
    /// The arrival time in seconds of each request, in order: the i-th is the earliest t with Λ(t) = i (bisection,
    /// to a microsecond; Λ rises strictly because the rate is positive throughout).
    /// </summary>
    public IEnumerable<double> Arrivals()
    {
        var count = Requests;
        var previous = 0.0;
        for (long i = 0; i < count; i++)
        {
            double lo = previous, hi = DurationSeconds;
            while (hi - lo > 1e-7)
            {
                var mid = (lo + hi) / 2;
                if (Cumulative(mid) < i)
                {
                    lo = mid;
                }
                else
                {
                    hi = mid;
                }
            }

            previous = i == 0 ? 0 : hi;
            yield return previous;
        }
    }

    /// <summary>A short description, for example <c>step 10→40 req/s, period 10 s, 30 s</c>.</summary>
    public override string ToString() => Shape == LoadShape.Constant
        ? $"constant {Show(Rate)} req/s, {Show(DurationSeconds)} s"
        : $"{Shape.ToString().ToLowerInvariant()} {Show(Rate)}→{Show(Peak)} req/s, period {Show(PeriodSeconds)} s, {Show(DurationSeconds)} s";

    private static string Show(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
