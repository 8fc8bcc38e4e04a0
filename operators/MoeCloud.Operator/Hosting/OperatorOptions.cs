using Microsoft.Extensions.Options;

namespace MoeCloud.Operator.Hosting;

/// <summary>Operator settings (configuration section "Operator", environment variables Operator__*).</summary>
public sealed class OperatorOptions
{
    public const string Section = "Operator";

    /// <summary>Namespace of the leader-election Lease (default: the pod's namespace, else "default").</summary>
    public string LeaseNamespace { get; set; } = Environment.GetEnvironmentVariable("POD_NAMESPACE") ?? "default";

    /// <summary>Name of the leader-election Lease.</summary>
    public string LeaseName { get; set; } = "moecloud-operator";

    /// <summary>This replica's identity in the Lease (default: the pod name, else the host name).</summary>
    public string Identity { get; set; } = Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName;

    /// <summary>Lease duration, 2..300 s (default 15).</summary>
    public int LeaseDurationSeconds { get; set; } = 15;

    /// <summary>How long the leader keeps trying to renew before giving up, 1..LeaseDuration s (default 10).</summary>
    public int RenewDeadlineSeconds { get; set; } = 10;

    /// <summary>Pause between lease attempts, 1..RenewDeadline s (default 2).</summary>
    public int RetryPeriodSeconds { get; set; } = 2;

    /// <summary>Concurrent reconciles per controller, 1..64 (default 2).</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Default silo image when a MoeDeployment names none.</summary>
    public string SiloImage { get; set; } = "ghcr.io/moecloud/silo:0.1.0";

    /// <summary>Default gateway image when a MoeDeployment names none.</summary>
    public string GatewayImage { get; set; } = "ghcr.io/moecloud/gateway:0.1.0";

    /// <summary>ServiceAccount of the silo pods (Orleans' Kubernetes hosting lists and watches pods); empty: none, no token mounted.</summary>
    public string SiloServiceAccount { get; set; } = "";

    /// <summary>
    /// Base address of a deployment's admin API; {name} and {namespace} are replaced (a template without them sends
    /// every deployment to one address). Default: the gateway's admin
    /// Service <c>&lt;name&gt;-gateway-admin</c> on the gateway's HTTP port 8080 (<c>MoeCloud:Gateway:HttpPort</c>).
    /// </summary>
    public string AdminEndpointTemplate { get; set; } = "http://{name}-gateway-admin.{namespace}.svc:8080/";

    /// <summary>
    /// Redis connection string of the silos' membership store, passed to every silo as
    /// <c>MoeCloud__Silo__RedisConnectionString</c> (Kubernetes hosting gives a silo its identity, not membership).
    /// </summary>
    public string? MembershipRedis { get; set; }

    /// <summary>
    /// The gateway's admin API key, sent as <c>x-api-key</c> (the chart sets <c>Operator__AdminApiKey</c> from a Secret);
    /// none when empty. The operator writes its SHA-256 as the admin key <c>operator</c> into each deployment's Secret
    /// <c>&lt;name&gt;-operator-key</c>, which the gateway reads (<see cref="Reconcilers.GatewayKeys"/>).
    /// </summary>
    public string? AdminApiKey { get; set; }

    /// <summary>
    /// Whether the silo pods serve the Orleans Dashboard on their ops port (<c>MoeCloud__Silo__Dashboard</c>, path
    /// <c>/dashboard</c>), opened by the deployment's admin keys: the silos then also read the Secret
    /// <c>&lt;name&gt;-gateway-keys</c>. Default false (the chart's <c>workloads.siloDashboard</c>).
    /// </summary>
    public bool SiloDashboard { get; set; }

    /// <summary>Seconds between migration progress polls, 0.05..60 (default 2).</summary>
    public double ProgressPollSeconds { get; set; } = 2;

    /// <summary>
    /// Seconds between checks, while a deployment is Ready, that the cluster still knows its plan in effect (the plan
    /// registry is held in memory; the ExpertPlacement is the durable copy, published again when the cluster lost it).
    /// Default 30, in 1..3600.
    /// </summary>
    public double PlanCheckSeconds { get; set; } = 30;

    /// <summary>
    /// Seconds between two readings of a deployment's serving signals by the pod autoscaler (spec.autoscaling.pods),
    /// 0.05..600 (default 10). The stabilisation windows are counted in real seconds whatever this is.
    /// </summary>
    public double AutoscalePollSeconds { get; set; } = 10;

    /// <summary>
    /// Whether the pod autoscaler reads every gateway pod at its pod IP (default true: the signals of all gateway
    /// replicas are summed); false, or no pod IP known, reads the admin endpoint, which reaches one gateway (an operator
    /// outside the cluster, a single-gateway install).
    /// </summary>
    public bool ReadGatewayPods { get; set; } = true;

    /// <summary>Seconds before a model or deployment in error is looked at again, 1..3600 (default 30).</summary>
    public int ErrorRequeueSeconds { get; set; } = 30;

    /// <summary>Whether the model reconciler reads config.json under spec.weights.path (when the operator can see that path).</summary>
    public bool CheckModelConfig { get; set; } = true;
}

/// <summary>Reports every invalid operator setting at once.</summary>
public sealed class OperatorOptionsValidator : IValidateOptions<OperatorOptions>
{
    public ValidateOptionsResult Validate(string? name, OperatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.LeaseNamespace) || string.IsNullOrWhiteSpace(options.LeaseName) || string.IsNullOrWhiteSpace(options.Identity))
        {
            failures.Add("Operator:LeaseNamespace, LeaseName and Identity must not be empty");
        }

        if (options.LeaseDurationSeconds is < 2 or > 300)
        {
            failures.Add($"Operator:LeaseDurationSeconds must be in 2..300 (was {options.LeaseDurationSeconds})");
        }

        if (options.RenewDeadlineSeconds < 1 || options.RenewDeadlineSeconds >= options.LeaseDurationSeconds)
        {
            failures.Add($"Operator:RenewDeadlineSeconds must be at least 1 and below LeaseDurationSeconds (was {options.RenewDeadlineSeconds})");
        }

        if (options.RetryPeriodSeconds < 1 || options.RetryPeriodSeconds >= options.RenewDeadlineSeconds)
        {
            failures.Add($"Operator:RetryPeriodSeconds must be at least 1 and below RenewDeadlineSeconds (was {options.RetryPeriodSeconds})");
        }

        if (options.Workers is < 1 or > 64)
        {
            failures.Add($"Operator:Workers must be in 1..64 (was {options.Workers})");
        }

        if (string.IsNullOrWhiteSpace(options.SiloImage) || string.IsNullOrWhiteSpace(options.GatewayImage))
        {
            failures.Add("Operator:SiloImage and GatewayImage must not be empty");
        }

        // Without {name} every deployment is driven through one address (one gateway, as in a single-deployment install).
        if (!Uri.TryCreate(options.AdminEndpointTemplate.Replace("{name}", "x", StringComparison.Ordinal).Replace("{namespace}", "y", StringComparison.Ordinal), UriKind.Absolute, out _))
        {
            failures.Add($"Operator:AdminEndpointTemplate must be an absolute URL; {{name}} and {{namespace}} are replaced (was \"{options.AdminEndpointTemplate}\")");
        }

        if (!double.IsFinite(options.PlanCheckSeconds) || options.PlanCheckSeconds is < 1 or > 3600)
        {
            failures.Add($"Operator:PlanCheckSeconds must be in 1..3600 (was {options.PlanCheckSeconds})");
        }

        if (!double.IsFinite(options.ProgressPollSeconds) || options.ProgressPollSeconds is < 0.05 or > 60)
        {
            failures.Add($"Operator:ProgressPollSeconds must be in 0.05..60 (was {options.ProgressPollSeconds})");
        }

        if (!double.IsFinite(options.AutoscalePollSeconds) || options.AutoscalePollSeconds is < 0.05 or > 600)
        {
            failures.Add($"Operator:AutoscalePollSeconds must be in 0.05..600 (was {options.AutoscalePollSeconds})");
        }

        if (options.ErrorRequeueSeconds is < 1 or > 3600)
        {
            failures.Add($"Operator:ErrorRequeueSeconds must be in 1..3600 (was {options.ErrorRequeueSeconds})");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
