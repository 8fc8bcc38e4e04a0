using System.Globalization;
using MoeCloud.Placement.Autoscaling;

namespace MoeCloud.Cli.Cluster;

/// <summary>
/// The local autoscaling controller: every <see cref="LocalAutoscalerOptions.Period"/>, reads the model's serving
/// signals, keeps their history and runs <see cref="PodAutoscaler.Decide"/>; on a change it scales out or in through
/// the <see cref="IPodScaler"/> and waits <see cref="LocalAutoscalerOptions.Settle"/> before it samples again. A scale-out
/// takes the joined standbys first (a plan switch); the standbys it used are refilled later, one silo per settle time,
/// once <see cref="LocalAutoscalerOptions.RefillDelay"/> has passed since the last scale-out and the signals are within
/// the targets, so that starting a silo process does not compete with the pods serving a peak. With
/// <see cref="LocalAutoscalerOptions.Experts"/> it also runs an expert-replica step on the live load every <see cref="LocalAutoscalerOptions.ExpertCheck"/>. Steps
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
    private DateTimeOffset _lastScaleOut;
    private DateTimeOffset _nextRefill;
    private bool _refillPending;
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

        // The timer starts now (not when the loop task first runs), so the first pass is one period from this call.
        _stop = new CancellationTokenSource();
        var token = _stop.Token;
        var timer = new PeriodicTimer(_options.Period, _time);
        _loop = Task.Run(() => Loop(timer, token), token);
    }

    /// <summary>
    /// One pass: a sample (unless settling after a change), a pod decision and the step it asks for (or, when it holds
    /// and a refill is due, one standby silo started), then, when due, an expert-replica step. Returns the changes it made.
    /// </summary>
    public async Task<IReadOnlyList<AutoscaleChange>> StepAsync(CancellationToken cancellationToken)
    {
        var made = new List<AutoscaleChange>();
        var now = _time.GetUtcNow();
        var pods = await _scaler.PlanPodsAsync(cancellationToken);
        if (now >= _settledAt)
        {
            var sample = _signals.ReadServing(now);
            if (sample is { } read)
            {
                _history.Add(read);
            }

            _history = PodAutoscaler.Prune(_options.Pods, _history, now);
            var decision = PodAutoscaler.Decide(_options.Pods, pods, _history, now);
            LastDecision = decision;
            if (decision.DesiredPods != pods)
            {
                made.AddRange(await ScalePods(now, pods, decision, cancellationToken));
                pods = await _scaler.PlanPodsAsync(cancellationToken);
            }
            else if (RefillDue(now, pods, sample) && await RefillStandby(now, pods, cancellationToken) is { } refill)
            {
                made.Add(refill);
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

    private async Task Loop(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        using var owned = timer;
        string? lastError = null;
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await StepAsync(cancellationToken);
                lastError = null;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The signals or the plan could not be read (a silo or the gateway busy or gone): try again next period,
                // recording the error once until a step succeeds.
                if (e.Message != lastError)
                {
                    Record(new AutoscaleChange(_time.GetUtcNow(), "error", 0, 0, "reading the signals or the plan in effect", null, e.Message));
                    lastError = e.Message;
                }
            }
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
            if (desired > pods)
            {
                // The standbys it used are refilled later (RefillDue): a silo started now would compete with the
                // pods serving the load that asked for them.
                _lastScaleOut = now;
                _refillPending = _options.Standby > 0;
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

    /// <summary>
    /// Whether to refill the standbys now (the pass holds its pods): some may be missing since a scale-out,
    /// <see cref="LocalAutoscalerOptions.RefillDelay"/> has passed since the last one, the previous refill's settle time
    /// too, and the pass's sample is within the targets (at the most pods, an overloaded sample is not).
    /// </summary>
    private bool RefillDue(DateTimeOffset now, int pods, ServingSample? sample) =>
        _refillPending
        && now >= _lastScaleOut + _options.RefillDelay
        && now >= _nextRefill
        && (sample is not { } s || PodAutoscaler.WithinTargets(_options.Pods, s, pods));

    /// <summary>Starts at most one missing standby silo; the refill ends once none is missing.</summary>
    private async Task<AutoscaleChange?> RefillStandby(DateTimeOffset now, int pods, CancellationToken cancellationToken)
    {
        _nextRefill = now + _options.Settle;
        try
        {
            var started = await _scaler.SetStandbyAsync(_options.Standby, cancellationToken, maxStarts: 1);
            _refillPending = started > 0;
            return started == 0 ? null : Record(new AutoscaleChange(now, "standby", pods, pods, string.Create(CultureInfo.InvariantCulture,
                $"refilling {_options.Standby} standby pod(s), {(now - _lastScaleOut).TotalSeconds:0.#} s after the last scale-out, the signals within the targets: {(started > 0 ? "started" : "stopped")} {Math.Abs(started)} silo(s)"), null, null));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Record(new AutoscaleChange(now, "standby", pods, pods, $"refilling {_options.Standby} standby pod(s)", null, e.Message));
        }
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
