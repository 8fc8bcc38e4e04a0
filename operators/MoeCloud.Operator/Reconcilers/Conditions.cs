using k8s.Models;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>Condition types and the rule that lastTransitionTime changes only when a condition's status does.</summary>
public static class Conditions
{
    public const string Available = "Available";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";

    public static IList<V1Condition> Set(IList<V1Condition>? previous, long? generation, DateTime now, params (string Type, bool Status, string Reason, string Message)[] conditions)
    {
        var result = new List<V1Condition>();
        foreach (var (type, status, reason, message) in conditions)
        {
            var text = status ? "True" : "False";
            var old = previous?.FirstOrDefault(c => c.Type == type);
            result.Add(new V1Condition
            {
                Type = type,
                Status = text,
                Reason = reason,
                Message = message,
                ObservedGeneration = generation,
                LastTransitionTime = old is not null && old.Status == text ? old.LastTransitionTime : now,
            });
        }

        return result;
    }
}
