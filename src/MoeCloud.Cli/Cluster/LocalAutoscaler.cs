using System.Globalization;
using MoeCloud.Placement.Autoscaling;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Cluster;

/// <summary>What a <see cref="LocalAutoscaler"/> reads: the gateway's serving signals and the cluster's live expert load.</summary>
public interface IAutoscaleSignals
{
    /// <summary>The serving signals of the model now, as a sample read at <paramref name="now"/>; null when there are none.</summary>
    ServingSample? ReadServing(DateTimeOffset now);

    /// <summary>The windowed load per (layer, expert) from cluster telemetry; null when there is none yet.</summary>
    Task<WorkloadProfile?> ReadLoadAsync(CancellationToken cancellationToken);
}

/// <summary>What a <see cref="LocalAutoscaler"/> changes: <see cref="LocalScaler"/> on a local cluster.</summary>
public interface IPodScaler
{
    /// <summary>Pods the plan in effect has.</summary>
    Task<int> PlanPodsAsync(CancellationToken cancellationToken);

    /// <summary>Scales out to <paramref name="targetPods"/> plan pods.</summary>
    Task<ScaleTimings> ScaleOutAsync(int targetPods, CancellationToken cancellationToken);

    /// <summary>Scales in to <paramref name="targetPods"/> plan pods, keeping <paramref name="standby"/> silos joined above them.</summary>
    Task<ScaleTimings> ScaleInAsync(int targetPods, CancellationToken cancellationToken, int standby = 0);

    /// <summary>Keeps <paramref name="standby"/> silos joined above the plan's pods; returns how many were started (or stopped, negative).</summary>
    Task<int> SetStandbyAsync(int standby, CancellationToken cancellationToken);

    /// <summary>One expert-replica autoscaler step on the plan in effect, rolled out (make-before-break) when it changes the plan.</summary>
    Task<ExpertAutoscaleDecision> RebalanceExpertsAsync(WorkloadProfile load, ExpertAutoscalingOptions options, DateTimeOffset? lastChange, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>Settings of <see cref="LocalAutoscaler"/>.</summary>
public sealed record LocalAutoscalerOptions
{
    /// <summary>Pod bounds, targets and stabilisation windows (required; validated by <see cref="PodScalingTargets.Validate"/>).</summary>
    public required PodScalingTargets Pods { get; init; }

    /// <summary>Silos kept joined above the plan's pods, so a scale-out is a plan switch (default 0, at most 16).</summary>
    public int Standby { get; init; }

    /// <summary>How often the signals are read and a decision is made (default 1 s, in [10 ms, 1 min]).</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// After a pod change, and after the controller is created, how long samples are not taken (the gateway's serving
    /// window: its percentiles still hold requests served before, such as a start's first slow ones). Default 10 s, in [0, 10 min].
    /// </summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Expert-replica autoscaling; null (default): off.</summary>
    public ExpertAutoscalingOptions? Experts { get; init; }

    /// <summary>How often the live load is read for expert-replica autoscaling (default 5 s, in [10 ms, 1 h]); its own cooldown still applies.</summary>
    public TimeSpan ExpertCheck { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>These options, or an <see cref="ArgumentException"/> naming every value out of range.</summary>
    internal LocalAutoscalerOptions Validated()
    {
        var problems = new List<string>();
        try
        {
            Pods.Validate();
        }
        catch (ArgumentException e)
        {
            problems.Add(e.Message);
        }

        if (Experts is { } experts)
        {
            try
            {
                experts.Validate();
            }
            catch (ArgumentException e)
            {
                problems.Add(e.Message);
            }
        }

        if (Standby is < 0 or > 16)
        {
            problems.Add($"{nameof(Standby)} must be in [0, 16] (got {Standby})");
        }

        if (Period < TimeSpan.FromMilliseconds(10) || Period > TimeSpan.FromMinutes(1))
        {
            problems.Add($"{nameof(Period)} must be in [10 ms, 1 min] (got {Period})");
        }

        if (Settle < TimeSpan.Zero || Settle > TimeSpan.FromMinutes(10))
        {
            problems.Add($"{nameof(Settle)} must be in [0, 10 min] (got {Settle})");
        }

        if (ExpertCheck < TimeSpan.FromMilliseconds(10) || ExpertCheck > TimeSpan.FromHours(1))
        {
            problems.Add($"{nameof(ExpertCheck)} must be in [10 ms, 1 h] (got {ExpertCheck})");
        }

        return problems.Count == 0 ? this : throw new ArgumentException("invalid autoscaler options: " + string.Join("; ", problems));
    }
}

/// <summary>What one change (or failed attempt) of a <see cref="LocalAutoscaler"/> was.</summary>
/// <param name="At">When it was decided.</param>
/// <param name="Kind"><c>pods</c> (a scale step), <c>standby</c> (standbys started or stopped) or <c>experts</c> (an expert-replica step).</param>
/// <param name="FromPods">Plan pods before.</param>
/// <param name="ToPods">Plan pods after (the same for standby and expert steps).</param>
/// <param name="Reason">Why, in a sentence (the autoscaler's reason).</param>
/// <param name="Timings">The scale step's timings from the decision; null for other kinds and failures.</param>
/// <param name="Error">Why the step failed; null when it did not.</param>
public sealed record AutoscaleChange(DateTimeOffset At, string Kind, int FromPods, int ToPods, string Reason, ScaleTimings? Timings, string? Error)
{
    /// <summary>One line for a console: time, change, reason and timings.</summary>
    public override string ToString()
    {
        var time = At.UtcDateTime.ToString("HH:mm:ss.f", CultureInfo.InvariantCulture);
        var what = Kind == "pods" ? $"pods {FromPods} -> {ToPods}" : Kind;
        var timings = Timings is not { } t ? "" : string.Create(CultureInfo.InvariantCulture,
            $" [started {t.StartedSilos}, stopped {t.StoppedSilos}, moves {t.Moves}, plan {t.PlanVersion}{Part("joined", t.JoinedSeconds)}{Part("in effect", t.PlanSeconds)}{Part("served", t.ServedSeconds)}{Part("stopped", t.StoppedSeconds)}]");
        return $"{time} autoscale {what}: {Reason}{timings}{(Error is null ? "" : $" FAILED: {Error}")}";

        static string Part(string name, double? seconds) => seconds is { } s ? string.Create(CultureInfo.InvariantCulture, $", {name} {s:0.00} s") : "";
    }
}

/// <summary>
/// The local autoscaling controller: every <see cref="LocalAutoscalerOptions.Period"/>, reads the model's serving
/// signals, keeps their history and runs <see cref="PodAutoscaler.Decide"/>; on a change it scales out or in through
/// the <see cref="IPodScaler"/> (keeping <see cref="LocalAutoscalerOptions.Standby"/> silos joined) and waits
/// <see cref="LocalAutoscalerOptions.Settle"/> before it samples again. With <see cref="LocalAutoscalerOptions.Experts"/>
/// it also runs an expert-replica step on the live load every <see cref="LocalAutoscalerOptions.ExpertCheck"/>. Steps
/// are made one at a time, in the loop; a step that fails is recorded and the loop goes on. Time comes from the
/// <see cref="TimeProvider"/>, so <see cref="StepAsync"/> can be driven with explicit times.
/// </summary>
public sealed class LocalAutoscaler : IAsyncDisposable
{
    /// <summary>Most changes kept in <see cref="Changes"/> (the oldest are dropped first).</summary>
    public const int MaxChanges = 1000;

    private readonly IPodScaler _scaler;
    private readonly IAutoscaleSignals _signals;
    private readonly LocalAutoscalerOptions _options;
    private readonly TimeProvider _time;
    private readonly Action<AutoscaleChange>? _onChange;
    private readonly List<AutoscaleChange> _changes = [];
    private List<ServingSample> _history = [];
    private DateTimeOffset _settledAt;
    private DateTimeOffset? _lastExpertCheck;
    private DateTimeOffset? _lastExpertChange;
    private CancellationTokenSource? _stop;
    private Task? _loop;

    /// <summary>Creates a controller (not running: <see cref="Start"/> it, or drive <see cref="StepAsync"/>).</summary>
    /// <exception cref="ArgumentException">Bad options, every problem named.</exception>
    public LocalAutoscaler(IPodScaler scaler, IAutoscaleSignals signals, LocalAutoscalerOptions options, TimeProvider? time = null, Action<AutoscaleChange>? onChange = null)
    {
        ArgumentNullException.ThrowIfNull(scaler);
        ArgumentNullException.ThrowIfNull(signals);
        ArgumentNullException.ThrowIfNull(options);
        _scaler = scaler;
        _signals = signals;
        _options = options.Validated();
        _time = time ?? TimeProvider.System;
        _onChange = onChange;
        _settledAt = _time.GetUtcNow() + _options.Settle;
    }

    /// <summary>The changes made (and attempts that failed), oldest first.</summary>
    public IReadOnlyList<AutoscaleChange> Changes
    {
        get
        {
            lock (_changes)
            {
                return [.. _changes];
            }
        }
    }

    /// <summary>The last pod decision (null before the first step).</summary>
    public PodScaleDecision? LastDecision { get; private set; }

    /// <summary>Starts the loop in the background (once).</summary>
    public void Start()
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("the autoscaler is already running");
        }

        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        _loop = Task.Run(() => Loop(token), token);
    }

    /// <summary>
    /// One pass: a sample (unless settling after a change), a pod decision and the step it asks for, then, when due, an
    /// expert-replica step. Returns the changes it made.
    /// </summary>
    public async Task<IReadOnlyList<AutoscaleChange>> StepAsync(CancellationToken cancellationToken)
    {
        var made = new List<AutoscaleChange>();
        var now = _time.GetUtcNow();
        var pods = await _scaler.PlanPodsAsync(cancellationToken);
        if (now >= _settledAt)
        {
            if (_signals.ReadServing(now) is { } sample)
            {
                _history.Add(sample);
            }

            _history = PodAutoscaler.Prune(_options.Pods, _history, now);
            var decision = PodAutoscaler.Decide(_options.Pods, pods, _history, now);
            LastDecision = decision;
            if (decision.DesiredPods != pods)
            {
                made.AddRange(await ScalePods(now, pods, decision, cancellationToken));
                pods = await _scaler.PlanPodsAsync(cancellationToken);
            }
        }

        if (_options.Experts is { } experts && (_lastExpertCheck is not { } checkedAt || now - checkedAt >= _options.ExpertCheck))
        {
            _lastExpertCheck = now;
            if (await ScaleExperts(now, pods, experts, cancellationToken) is { } change)
            {
                made.Add(change);
            }
        }

        return made;
    }

    /// <summary>Stops the loop after the step in progress (if any) and waits for it.</summary>
    public async Task StopAsync()
    {
        if (_stop is null || _loop is null)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop?.Dispose();
    }

    private async Task Loop(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.Period, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            await StepAsync(cancellationToken);
        }
    }

    private async Task<List<AutoscaleChange>> ScalePods(DateTimeOffset now, int pods, PodScaleDecision decision, CancellationToken cancellationToken)
    {
        var made = new List<AutoscaleChange>();
        var desired = decision.DesiredPods;
        try
        {
            var timings = desired > pods
                ? await _scaler.ScaleOutAsync(desired, cancellationToken)
                : await _scaler.ScaleInAsync(desired, cancellationToken, _options.Standby);
            made.Add(Record(new AutoscaleChange(now, "pods", pods, desired, decision.Reason, timings, null)));
            if (desired > pods && _options.Standby > 0)
            {
                // The standbys the scale-out used are refilled, so the next scale-out is a plan switch again.
                var standbyAt = _time.GetUtcNow();
                var started = await _scaler.SetStandbyAsync(_options.Standby, cancellationToken);
                if (started != 0)
                {
                    made.Add(Record(new AutoscaleChange(standbyAt, "standby", desired, desired, $"keeping {_options.Standby} standby pod(s) joined: {(started > 0 ? "started" : "stopped")} {Math.Abs(started)} silo(s)", null, null)));
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            made.Add(Record(new AutoscaleChange(now, "pods", pods, desired, decision.Reason, null, e.Message)));
        }

        // The gateway's window still holds requests served before the change: start the history afresh after it.
        _history.Clear();
        _settledAt = _time.GetUtcNow() + _options.Settle;
        return made;
    }

    private async Task<AutoscaleChange?> ScaleExperts(DateTimeOffset now, int pods, ExpertAutoscalingOptions experts, CancellationToken cancellationToken)
    {
        try
        {
            if (await _signals.ReadLoadAsync(cancellationToken) is not { } load)
            {
                return null;
            }

            var decision = await _scaler.RebalanceExpertsAsync(load, experts, _lastExpertChange, now, cancellationToken);
            if (!decision.Changed)
            {
                return null;
            }

            _lastExpertChange = now;
            return Record(new AutoscaleChange(now, "experts", pods, pods, $"{decision.Action.ToString().ToLowerInvariant()} {decision.Changes.Count} replica(s), plan {decision.Plan.Info.Version}: {decision.Reason}", null, null));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _lastExpertChange = now;
            return Record(new AutoscaleChange(now, "experts", pods, pods, "expert-replica step", null, e.Message));
        }
    }

    private AutoscaleChange Record(AutoscaleChange change)
    {
        lock (_changes)
        {
            _changes.Add(change);
            if (_changes.Count > MaxChanges)
            {
                _changes.RemoveAt(0);
            }
        }

        _onChange?.Invoke(change);
        return change;
    }
}
