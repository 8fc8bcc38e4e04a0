using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Operator.Controllers;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>Validates a MoeModel (and its config.json when the operator can read it) and writes its status once.</summary>
public sealed partial class MoeModelReconciler(
    CustomResourceClient resources, IOptions<OperatorOptions> options, TimeProvider time, ILogger<MoeModelReconciler> logger) : IReconciler
{
    public string Name => "moemodel";

    public async Task<ReconcileResult> ReconcileAsync(ObjectKey key, CancellationToken cancellationToken)
    {
        var model = await resources.GetAsync<MoeModel>(MoeCloudApi.MoeModels, key.Namespace, key.Name, cancellationToken);
        if (model is null)
        {
            return ReconcileResult.Done;
        }

        var problems = ModelValidation.CheckSpec(model.Spec);
        List<Problem>? configProblems = null;
        if (problems.Count == 0 && options.Value.CheckModelConfig)
        {
            configProblems = ModelValidation.CheckConfig(model.Spec.Architecture, model.Spec.Weights.Path);
            problems.AddRange(configProblems ?? []);
        }

        var generation = model.Metadata.Generation;
        var now = time.GetUtcNow().UtcDateTime;
        var valid = problems.Count == 0;
        var reason = valid ? (configProblems is null ? "SpecValid" : "ConfigMatches") : problems[0].Reason;
        var message = valid
            ? configProblems is null ? "architecture is consistent; config.json was not readable from the operator" : "architecture matches config.json"
            : string.Join("; ", problems.Select(p => p.Message));
        var status = new MoeModelStatus
        {
            ObservedGeneration = generation,
            Phase = valid ? "Ready" : "Invalid",
            ConfigChecked = configProblems is not null,
            Conditions = Conditions.Set(model.Status?.Conditions, generation, now,
                (Conditions.Available, valid, reason, message),
                (Conditions.Degraded, !valid, reason, message)),
        };

        var changed = model.Status?.Phase != status.Phase || model.Status?.ObservedGeneration != generation;
        if (changed && !valid)
        {
            LogInvalid(key.ToString(), message);
            await resources.RecordEventAsync(model, "Warning", reason, message, cancellationToken);
        }

        if (changed || model.Status?.Conditions.FirstOrDefault(c => c.Type == Conditions.Degraded)?.Message != message)
        {
            await resources.PatchStatusAsync(MoeCloudApi.MoeModels, key.Namespace, key.Name, status, cancellationToken);
        }

        return valid ? ReconcileResult.Done : ReconcileResult.After(TimeSpan.FromSeconds(options.Value.ErrorRequeueSeconds));
    }

    [LoggerMessage(EventId = 7200, Level = LogLevel.Warning, Message = "MoeModel {Key} is invalid: {Message}")]
    private partial void LogInvalid(string key, string message);
}
