using System.Globalization;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Kube;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl kube status|plan|experts|install-plugin</c>, which are also <c>kubectl moe …</c> (<see cref="KubectlPlugin"/>):
/// a MoeDeployment's placement as the operator keeps it in the cluster.
/// </summary>
internal static partial class KubeCommands
{
    private static readonly CliOption JsonOption = new("json", "print JSON instead of tables", IsFlag: true);

    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand("kube status", "a MoeDeployment's plan in effect, pods (with --admin, the expert backend each runs), remote fraction, imbalance and migration progress", "<deployment>",
            [.. KubeConnection.Options, KubeProfiles.Admin, KubeProfiles.AdminKeyOption, JsonOption], StatusAsync, 1, 1));
        app.Add(new CliCommand("kube plan",
            "what-if: the plan the operator would write for --replicas N pods, its moves and predicted metrics; writes nothing unless --apply, which sets spec.replicas through the scale subresource (as kubectl scale; the operator then writes the ExpertPlacement itself)",
            "<deployment>",
            [
                .. KubeConnection.Options,
                new("replicas", "<n>  silo pods to plan for (1..1024, as spec.replicas)"),
                KubeProfiles.Admin,
                KubeProfiles.AdminKeyOption,
                new("apply", "set spec.replicas to N (refused while spec.autoscaling.pods is enabled: the autoscaler owns it)", IsFlag: true),
                JsonOption,
            ], PlanAsync, 1, 1));
        app.Add(new CliCommand("kube experts", "the hottest experts (live profile with --admin, else the profile ConfigMap) and their replicas in the plan in effect", "<deployment>",
            [.. KubeConnection.Options, new("top", "<k>  experts to show (default 10)"), KubeProfiles.Admin, KubeProfiles.AdminKeyOption, JsonOption], ExpertsAsync, 1, 1));
        app.Add(new CliCommand("kube install-plugin", $"writes <dir>/{KubectlPlugin.ExecutableName}, a symlink to this moectl, so that `kubectl moe` runs it (put <dir> on the PATH)", "",
            [new("dir", "<dir>  a directory on the PATH (required)")], InstallPluginAsync));
    }

    private static async Task<int> PlanAsync(CliArgs args, CliConsole console, CancellationToken cancellationToken)
    {
        var name = args.Positionals[0];
        var pods = args.GetInt("replicas", fallback: 0, min: 1, max: 1024);
        if (pods == 0)
        {
            throw new UsageException("option '--replicas' is required");
        }

        var admin = KubeProfiles.AdminUrl(args);
        using var connection = KubeConnection.Open(args);
        var state = await KubeDeployment.ReadAsync(connection, name, cancellationToken);
        var model = state.RequireModel();
        var live = admin is null || state.Latest is null ? null : await KubeProfiles.LiveAsync(admin, KubeProfiles.AdminKey(args), state.Deployment, cancellationToken);
        var configMap = state.Latest is null ? await KubeProfiles.ConfigMapAsync(connection, state.Deployment, model, cancellationToken) : null;
        var planner = new LibraryPlanner(TimeProvider.System);
        var plan = await Task.Run(() => KubeWhatIf.Solve(state, pods, live, configMap, planner, cancellationToken), cancellationToken);
        var applied = args.Has("apply") ? await ApplyAsync(connection, state.Deployment, pods, cancellationToken) : null;
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, new { deployment = name, connection.Namespace, plan, applied });
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(PlanText(name, plan, admin is not null));
        await console.Out.WriteLineAsync(applied ?? $"nothing written (--apply sets spec.replicas to {pods}; the operator then writes the plan)");
        return Moectl.Ok;
    }

    /// <summary>
    /// What the operator acts on: spec.replicas, through the scale subresource and guarded by the resourceVersion the
    /// what-if was computed from. The operator then writes the plan (the ExpertPlacement) itself, as after kubectl scale.
    /// </summary>
    private static async Task<string> ApplyAsync(KubeConnection connection, MoeDeployment d, int pods, CancellationToken cancellationToken)
    {
        if (d.Spec.Replicas == pods)
        {
            return $"spec.replicas is already {pods}: nothing to write";
        }

        if (d.Spec.Autoscaling.Pods.Enabled)
        {
            throw new InvalidOperationException($"spec.autoscaling.pods is enabled on {d.Metadata.Name}: the operator's autoscaler sets spec.replicas (within {d.Spec.Autoscaling.Pods.MinReplicas}..{d.Spec.Autoscaling.Pods.MaxReplicas}); disable it or change those bounds instead");
        }

        var scale = new V1Scale
        {
            ApiVersion = "autoscaling/v1",
            Kind = "Scale",
            Metadata = new V1ObjectMeta { Name = d.Metadata.Name, NamespaceProperty = d.Metadata.NamespaceProperty, ResourceVersion = d.Metadata.ResourceVersion },
            Spec = new V1ScaleSpec { Replicas = pods },
        };
        var kind = MoeCloudApi.MoeDeployments;
        try
        {
            await connection.Client.CustomObjects.ReplaceNamespacedCustomObjectScaleAsync(scale, kind.Group, kind.Version, connection.Namespace, kind.Plural, d.Metadata.Name,
                cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new InvalidOperationException($"MoeDeployment \"{d.Metadata.Name}\" changed since it was read; run the what-if again", e);
        }
        catch (HttpOperationException e)
        {
            throw new InvalidOperationException($"the Kubernetes API refused the scale of \"{d.Metadata.Name}\": {(int)e.Response.StatusCode} {e.Response.StatusCode}", e);
        }

        return $"spec.replicas {d.Spec.Replicas} -> {pods}: the operator writes the next ExpertPlacement and migrates (kubectl moe status {d.Metadata.Name})";
    }

    private static string PlanText(string name, WhatIfPlan plan, bool liveRead)
    {
        var lines = new List<string>
        {
            plan.FromVersion is { } v
                ? $"what-if: {name} on {plan.Pods} pods, from plan v{v} on {plan.FromPods} pods ({plan.Kind})"
                : $"what-if: {name} on {plan.Pods} pods ({plan.Kind})",
            $"load:             {plan.Load}{(liveRead || plan.FromVersion is null ? "" : " (pass --admin to plan from the live profile, as the operator does)")}",
            $"note:             {plan.Note}",
            $"plan versions:    {(plan.Kind == "NoChange" ? 0 : plan.Steps.Count)}",
            $"replicas created: {plan.Moves} ({Bytes(plan.MovedBytes)})",
        };
        if (plan.ImbalanceBefore is { } before && plan.ImbalanceAfter is { } after)
        {
            lines.Add($"load imbalance:   {CliOutput.Num(before)} -> {CliOutput.Num(after)}");
        }

        if (plan.RemoteBefore is { } rb && plan.RemoteAfter is { } ra)
        {
            lines.Add($"remote fraction:  {CliOutput.Num(rb)} -> {CliOutput.Num(ra)}");
        }

        lines.Add($"replicas per pod: {string.Join(" ", plan.ReplicasPerPod.Select((n, p) => Invariant($"{p}:{n}")))}");
        if (plan.Changes.Count > 0)
        {
            lines.Add("");
            lines.Add(CliOutput.Table(["LAYER", "EXPERT", "FROM", "TO"],
                plan.Changes.Select(c => (IReadOnlyList<string>)[Invariant($"{c.Layer}"), Invariant($"{c.Expert}"), Pods(c.From), Pods(c.To)])));
        }

        return string.Join(Environment.NewLine, lines);
    }

    private static async Task<int> InstallPluginAsync(CliArgs args, CliConsole console, CancellationToken cancellationToken)
    {
        var dir = args.Require("dir");
        var self = Environment.ProcessPath;
        if (self is null || Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            throw new InvalidOperationException($"install-plugin links to the moectl executable; run it as moectl (the dotnet tool or the build's apphost), not through dotnet, or copy that executable to {KubectlPlugin.ExecutableName}");
        }

        var link = KubectlPlugin.Install(dir, self);
        await console.Out.WriteLineAsync($"{link} -> {self}; with {Path.GetDirectoryName(link)} on the PATH, `kubectl moe status <deployment>` runs moectl kube status");
        return Moectl.Ok;
    }

    private static string Pods(IEnumerable<int> pods) => string.Join(",", pods.Select(p => p.ToString(CultureInfo.InvariantCulture)));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Bytes(long bytes) => bytes >= 1L << 30 ? $"{CliOutput.Num(bytes / (double)(1L << 30), 2)} GiB" : $"{CliOutput.Num(bytes / (double)(1L << 20), 1)} MiB";
}
