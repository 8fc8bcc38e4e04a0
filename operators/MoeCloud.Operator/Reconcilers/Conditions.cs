using k8s.Models;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>Condition types and the rule that lastTransitionTime changes only when a condition's status does.</summary>
public static class Conditions
{
    public const string Available = "Available";
    public const string Progressing = "Progressing";
    public const string Degraded = "Degraded";

    /// <summary>
    /// Whether the keys Secret the gateway reads (<see cref="Workloads.GatewayKeysName"/>) exists: False with
    /// <see cref="KeysSecretNotFound"/> while <c>spec.gateway.keysSecret</c> names a Secret that is not there (the
    /// gateway pods cannot start without it), True again at the first reconcile after it appears.
    /// </summary>
    public const string GatewayKeysReady = "GatewayKeysReady";

    /// <summary>The reason of <see cref="GatewayKeysReady"/> (and of its Warning event) while the Secret is missing.</summary>
    public const string KeysSecretNotFound = "KeysSecretNotFound";

    /// <summary>The reason of <see cref="GatewayKeysReady"/> when the Secret exists.</summary>
    public const string KeysSecretFound = "KeysSecretFound";

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
