using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Kube;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Commands;

/// <summary>One expert of <c>kube experts</c>: its load (dispatches in the profile), its share of its layer's load, and its replicas.</summary>
internal sealed record KubeExpertRow(int Layer, int Expert, long? Load, double? Share, double? SharePerReplica, int Replicas, int[] Pods);

/// <summary>What <c>kube experts</c> reports.</summary>
internal sealed record KubeExpertsReport(string Deployment, int PlanVersion, string Load, IReadOnlyList<KubeExpertRow> Experts);

internal static partial class KubeCommands
{
    private static async Task<int> ExpertsAsync(CliArgs args, CliConsole console, CancellationToken cancellationToken)
    {
        var name = args.Positionals[0];
        var top = args.GetInt("top", 10, min: 1, max: 1_000_000);
        var admin = KubeProfiles.AdminUrl(args);
        using var connection = KubeConnection.Open(args);
        var state = await KubeDeployment.ReadAsync(connection, name, cancellationToken);
        var placement = state.InEffect ?? state.Latest
            ?? throw new InvalidOperationException($"MoeDeployment \"{name}\" has no plan yet (no ExpertPlacement)");
        var plan = KubeDeployment.PlanOf(placement);
        var profile = admin is null ? null : KubeProfiles.FromLive(await KubeProfiles.LiveAsync(admin, KubeProfiles.AdminKey(args), state.Deployment, cancellationToken), plan);
        profile ??= await KubeProfiles.ConfigMapAsync(connection, state.Deployment, state.RequireModel(), cancellationToken);
        var report = new KubeExpertsReport(name, placement.Spec.Version, profile?.Name ?? "none (ranked by replicas)", Hottest(plan, profile, top));
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, report);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync($"plan v{report.PlanVersion} of {name}; load: {report.Load}"
            + (profile is null ? $" (pass --admin for the live profile{(admin is null ? "" : "; the admin API had none")})" : ""));
        await console.Out.WriteLineAsync(CliOutput.Table(["LAYER", "EXPERT", "LOAD", "SHARE", "REPLICAS", "SHARE/REPLICA", "PODS"],
            report.Experts.Select(e => (IReadOnlyList<string>)[Invariant($"{e.Layer}"), Invariant($"{e.Expert}"), e.Load is { } l ? CliOutput.Count(l) : "-",
                e.Share is { } s ? CliOutput.Num(s * 100, 2) + "%" : "-", Invariant($"{e.Replicas}"), e.SharePerReplica is { } r ? CliOutput.Num(r * 100, 2) + "%" : "-", Pods(e.Pods)])));
        return Moectl.Ok;
    }

    /// <summary>
    /// The <paramref name="top"/> experts with the largest share of their layer's load (ties: the lower layer, then expert),
    /// or, without a profile, those with the most replicas.
    /// </summary>
    internal static IReadOnlyList<KubeExpertRow> Hottest(PlacementPlan plan, WorkloadProfile? profile, int top)
    {
        var layerLoad = Enumerable.Range(0, plan.Layers).Select(l => profile is null ? 0 : Enumerable.Range(0, plan.Experts).Sum(e => profile.LoadOf(l, e))).ToArray();
        var rows = from l in Enumerable.Range(0, plan.Layers)
                   from e in Enumerable.Range(0, plan.Experts)
                   let pods = plan.PodsOf(l, e).ToArray()
                   let load = profile?.LoadOf(l, e)
                   let share = load is { } x && layerLoad[l] > 0 ? x / (double)layerLoad[l] : (double?)null
                   select new KubeExpertRow(l, e, load, share, share / pods.Length, pods.Length, pods);
        return [.. rows.OrderByDescending(r => profile is null ? r.Replicas : r.Share ?? 0).ThenBy(r => r.Layer).ThenBy(r => r.Expert).Take(top)];
    }
}
