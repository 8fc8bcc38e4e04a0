using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Kube;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Cli.Commands;

/// <summary>A silo pod: its Kubernetes readiness, what the plan in effect puts on it, and the expert backend it runs.</summary>
internal sealed record KubePodRow(string Name, int? Ordinal, string Phase, bool Ready, int? Replicas, int? Primaries)
{
    /// <summary>The expert backend the pod's silo runs (from the admin API with <c>--admin</c>); null when not read.</summary>
    public string? ExpertBackend { get; init; }
}

/// <summary>One ExpertPlacement: a plan version, its metrics and its migration progress.</summary>
internal sealed record KubePlanRow(int Version, int Pods, string? Solver, string? Reason, int? Moves, double? LoadImbalance, string? Phase, int? MovedReplicas, int? TotalMoves, string? Message);

/// <summary>What <c>kube status</c> reports.</summary>
internal sealed record KubeStatusReport(
    string Deployment,
    string Namespace,
    string Model,
    string? Phase,
    int Replicas,
    int? ReadyReplicas,
    int? CurrentPlanVersion,
    int? TargetPlanVersion,
    double? RemoteFraction,
    double? LoadImbalance,
    KubePlanRow? Migration,
    IReadOnlyList<KubePodRow> Pods,
    IReadOnlyList<KubePlanRow> Plans,
    IReadOnlyList<KubeConditionRow> Conditions);

/// <summary>A status condition.</summary>
internal sealed record KubeConditionRow(string Type, string Status, string? Reason, string? Message);

internal static partial class KubeCommands
{
    private static async Task<int> StatusAsync(CliArgs args, CliConsole console, CancellationToken cancellationToken)
    {
        var name = args.Positionals[0];
        using var connection = KubeConnection.Open(args);
        var state = await KubeDeployment.ReadAsync(connection, name, cancellationToken);
        var pods = await state.SiloPodsAsync(connection, cancellationToken);
        var report = Status(state, pods, connection.Namespace);
        if (KubeProfiles.AdminUrl(args) is { } admin)
        {
            var backends = await KubeProfiles.BackendsAsync(admin, KubeProfiles.AdminKey(args), cancellationToken);
            report = report with { Pods = [.. report.Pods.Select(p => p with { ExpertBackend = p.Ordinal is { } o ? backends.GetValueOrDefault(o) : null })] };
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, report);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(StatusText(report));
        return Moectl.Ok;
    }

    private static KubeStatusReport Status(KubeDeployment state, IReadOnlyList<k8s.Models.V1Pod> pods, string ns)
    {
        var d = state.Deployment;
        var s = d.Status;
        var inEffect = state.InEffect;
        var plan = inEffect is null ? null : KubeDeployment.PlanOf(inEffect);
        var ordinals = pods.Select(KubeDeployment.Ordinal).Where(o => o is not null).Select(o => o!.Value).ToHashSet();
        var rows = pods.Select(p => (Name: p.Metadata.Name, Ordinal: KubeDeployment.Ordinal(p), Phase: p.Status?.Phase ?? "Unknown", Ready: KubeDeployment.IsReady(p)))
            .Concat(Enumerable.Range(0, plan?.PodCount ?? 0).Where(o => !ordinals.Contains(o)).Select(o => (Name: $"{d.Metadata.Name}-silo-{o}", Ordinal: (int?)o, Phase: "Missing", Ready: false)))
            .OrderBy(r => r.Ordinal ?? int.MaxValue).ThenBy(r => r.Name, StringComparer.Ordinal)
            .Select(r =>
            {
                var placed = plan is not null && r.Ordinal is { } o && o < plan.PodCount ? plan.ReplicasOn(o) : null;
                return new KubePodRow(r.Name, r.Ordinal, r.Phase, r.Ready, placed?.Count ?? (plan is null ? null : 0), placed?.Count(x => x.Replica == 0) ?? (plan is null ? null : 0));
            })
            .ToList();
        var plans = state.Placements.Select(PlanRow).ToList();
        var latest = state.Latest;
        var migration = latest is not null && latest.Status?.Phase != Contracts.Admin.MigrationProgress.Complete ? PlanRow(latest) : null;
        return new KubeStatusReport(d.Metadata.Name, ns, d.Spec.ModelRef.Name, s?.Phase, d.Spec.Replicas, s?.ReadyReplicas, s?.CurrentPlanVersion, s?.TargetPlanVersion,
            s?.RemoteFraction, s?.LoadImbalance, migration, rows, plans,
            [.. (s?.Conditions ?? []).Select(c => new KubeConditionRow(c.Type, c.Status, c.Reason, c.Message))]);
    }

    private static KubePlanRow PlanRow(ExpertPlacement p) =>
        new(p.Spec.Version, p.Spec.Pods, p.Spec.Solver, p.Spec.Reason, p.Spec.Metrics?.Moves, p.Spec.Metrics?.LoadImbalance, p.Status?.Phase, p.Status?.MovedReplicas, p.Status?.TotalMoves, p.Status?.Message);

    private static string StatusText(KubeStatusReport r)
    {
        var lines = new List<string>
        {
            $"MoeDeployment {r.Deployment} (namespace {r.Namespace}, model {r.Model})",
            $"phase:           {r.Phase ?? "(not reconciled yet)"}",
            $"pods:            {Opt(r.ReadyReplicas)} ready of {r.Replicas} (spec.replicas)",
            $"plan in effect:  {(r.CurrentPlanVersion is { } c ? Invariant($"v{c}") : "none")}{(r.TargetPlanVersion is { } t && t != r.CurrentPlanVersion ? Invariant($" (target v{t})") : "")}",
            $"remote fraction: {(r.RemoteFraction is { } rf ? CliOutput.Num(rf) : "-")}",
            $"load imbalance:  {(r.LoadImbalance is { } li ? CliOutput.Num(li) : "-")}",
            $"migration:       {(r.Migration is { } m ? $"v{m.Version} {m.Phase ?? "Pending"}: {Opt(m.MovedReplicas)}/{Opt(m.TotalMoves ?? m.Moves)} replicas moved{(string.IsNullOrEmpty(m.Message) ? "" : " (" + m.Message + ")")}" : "none in progress")}",
        };
        lines.AddRange(r.Conditions.Where(c => c.Type == "Degraded" && c.Status == "True").Select(c => $"degraded:        {c.Reason}: {c.Message}"));
        lines.Add("");
        lines.Add(CliOutput.Table(["POD", "PHASE", "READY", "REPLICAS", "PRIMARIES", "BACKEND"],
            r.Pods.Select(p => (IReadOnlyList<string>)[p.Name, p.Phase, p.Ready ? "yes" : "no", Opt(p.Replicas), Opt(p.Primaries), p.ExpertBackend ?? "-"])));
        if (r.Pods.All(p => p.ExpertBackend is null))
        {
            lines.Add("(BACKEND: pass --admin <url> and --admin-key, or $" + KubeProfiles.AdminKeyVariable + ", to read the expert backend each pod runs)");
        }
        lines.Add("");
        lines.Add(CliOutput.Table(["PLAN", "PODS", "SOLVER", "REASON", "MOVES", "IMBALANCE", "MIGRATION"],
            r.Plans.Select(p => (IReadOnlyList<string>)[Invariant($"v{p.Version}"), Invariant($"{p.Pods}"), p.Solver ?? "-", p.Reason ?? "-", Opt(p.Moves),
                p.LoadImbalance is { } i ? CliOutput.Num(i) : "-", p.Phase ?? "Pending"])));
        return string.Join(Environment.NewLine, lines);
    }

    private static string Opt(int? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";
}
