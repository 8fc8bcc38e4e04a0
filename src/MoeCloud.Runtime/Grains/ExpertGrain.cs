using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using MoeCloud.Abstractions;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Placement;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Grains;

/// <summary>
/// One expert replica. On activation it loads only its own expert's tensors from the pod's checkpoint and makes them
/// reachable by the silo's hot path (<see cref="LocalExperts"/>), which runs them in process, without a call per
/// expert; on deactivation (<see cref="Retire"/>, after the plan switch has drained) it takes them away again.
/// <see cref="Compute"/> runs the kernel on a batch sent to the replica itself.
/// </summary>
[PodPlacement]
public sealed partial class ExpertGrain(ModelCatalog catalog, LocalExperts local, SiloMetrics metrics, ILocalSiloDetails silo, ILogger<ExpertGrain> logger) : Grain, IExpertGrain
{
    private ServedModel? _model;
    private ExpertWeights? _weights;
    private ExpertReplicaKey _key;
    private long _calls;

    /// <inheritdoc />
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = ExpertReplicaKey.Parse(this.GetPrimaryKeyString());
        _key = key;
        _model = catalog.Get(key.Model);
        var started = Stopwatch.GetTimestamp();
        try
        {
            _weights = _model.LoadExpert(key.Layer, key.Expert);
        }
        catch (CheckpointFormatException e)
        {
            metrics.Warmups.WithLabels(key.Model, "failed").Inc();
            // The checkpoint's exception is not an Orleans wire type (nor may it travel as an inner exception): the
            // caller (a rollout, a runner) gets the reason as a plain exception naming the replica, file and tensor.
            LogLoadFailed(logger, e, key.ToString(), silo.Name);
            throw new InvalidOperationException($"Replica {key} on {silo.Name} cannot load its weights: {e.Message}");
        }

        metrics.WarmupSeconds.WithLabels(key.Model).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        metrics.Warmups.WithLabels(key.Model, "ok").Inc();
        local.Add(key, _weights, _model.Spec.MoeLayers, _model.Spec.Experts);
        metrics.ActiveReplicas.WithLabels(key.Model).Inc();
        LogActivated(logger, this.GetPrimaryKeyString(), silo.Name, _weights.Bytes);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_model is not null && _weights is not null)
        {
            local.Remove(_key, _weights, _model.Spec.Experts);
            metrics.ActiveReplicas.WithLabels(_model.Name).Dec();
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<HiddenStates> Compute(HiddenStates input)
    {
        ArgumentNullException.ThrowIfNull(input);
        input.Validate();
        var weights = _weights!;
        if (input.Hidden != weights.Hidden)
        {
            throw new ArgumentException($"Expert {this.GetPrimaryKeyString()} takes hidden size {weights.Hidden}, got {input.Hidden}.");
        }

        if (input.Tokens == 0)
        {
            return Task.FromResult(input);
        }

        var output = new byte[input.Tokens * input.Hidden * sizeof(float)];
        var started = Stopwatch.GetTimestamp();
        _model!.Kernel.Forward(weights, input.Values, MemoryMarshal.Cast<byte, float>(output.AsSpan()), input.Tokens);
        metrics.KernelSeconds.WithLabels(_model.Name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        metrics.KernelTokens.WithLabels(_model.Name).Inc(input.Tokens);
        _calls++;
        return Task.FromResult(new HiddenStates(input.Tokens, input.Hidden, output));
    }

    /// <inheritdoc />
    public Task<ExpertReplicaStatus> Warm()
    {
        var weights = _weights!;
        var x = new float[weights.Hidden];
        var y = new float[weights.Hidden];
        _model!.Kernel.Forward(weights, x, y, 1);
        return Task.FromResult(new ExpertReplicaStatus(silo.Name, weights.Bytes, _calls));
    }

    /// <inheritdoc />
    public Task Retire()
    {
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 5301, Level = LogLevel.Error, Message = "Replica {Replica} on {Silo} cannot load its weights")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception, string replica, string silo);

    [LoggerMessage(EventId = 5300, Level = LogLevel.Debug, Message = "Activated {Replica} on {Silo} ({Bytes} weight bytes)")]
    private static partial void LogActivated(ILogger logger, string replica, string silo, long bytes);
}
