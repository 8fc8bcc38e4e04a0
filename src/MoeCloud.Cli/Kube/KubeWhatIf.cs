using k8s;
using MoeCloud.Contracts.Admin;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;
using MoeCloud.Operator.Reconcilers;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Cli.Kube;

/// <summary>One plan step the operator would write (one ExpertPlacement).</summary>
/// <param name="Solver">Solver of the step.</param>
/// <param name="Moves">Replicas the step creates.</param>
/// <param name="ImbalanceBefore">Expert-load imbalance towards the target pods before the step.</param>
/// <param name="ImbalanceAfter">The same after it.</param>
/// <param name="Complete">Whether no replica is left on a pod at or above the target pod count.</param>
internal sealed record WhatIfStep(string Solver, int Moves, double ImbalanceBefore, double ImbalanceAfter, bool Complete);

/// <summary>An expert whose replicas change: the pods before and after (the primary first).</summary>
internal sealed record ReplicaChange(int Layer, int Expert, int[] From, int[] To);

/// <summary>
/// What the operator would do for <see cref="Pods"/> pods: its kind (Initial, ScaleOut, ScaleIn, Rebalance, NoChange),
/// the steps, the net replica changes against the plan it plans from, and the predicted metrics.
/// </summary>
internal sealed record WhatIfPlan(
    string Kind,
    int? FromVersion,
    int? FromPods,
    int Pods,
    string Load,
    IReadOnlyList<WhatIfStep> Steps,
    IReadOnlyList<ReplicaChange> Changes,
    int Moves,
    long MovedBytes,
    double? ImbalanceBefore,
    double? ImbalanceAfter,
    double? RemoteBefore,
    double? RemoteAfter,
    IReadOnlyList<int> ReplicasPerPod,
    string Note)
{
    /// <summary>The plan the steps end in (not serialized: <see cref="Changes"/> and <see cref="ReplicasPerPod"/> describe it).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public PlacementPlan? Plan { get; init; }
}

/// <summary>
/// Solves what the operator would plan for a pod count, on the operator's own planning path: the request of
/// <see cref="PlanProgression.Request"/>, the <see cref="IPlacementPlanner"/> (<see cref="LibraryPlanner"/>), and the same
/// profile choice as <see cref="PlanProgression"/> — an initial plan fitted to the profile ConfigMap; a scale step from
/// the newest plan on the live profile, else uniform load, step after step until the plan is complete; a re-placement
/// on the same pods only from a live profile and only when its gain reaches spec.placement.minGain.
/// </summary>
internal static class KubeWhatIf
{
    /// <summary>Most steps followed for one scale (each step is one ExpertPlacement the operator would write).</summary>
    public const int MaxSteps = 256;

    public static WhatIfPlan Solve(KubeDeployment state, int pods, LiveProfile? live, WorkloadProfile? configMap, IPlacementPlanner planner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(planner);
        var d = state.Deployment;
        var model = state.RequireModel();
        var asIf = KubernetesJson.Deserialize<MoeDeployment>(KubernetesJson.Serialize(d));
        asIf.Spec.Replicas = pods;
        if (DeploymentValidation.Check(asIf, model) is { Count: > 0 } problems)
        {
            throw new InvalidOperationException($"the operator would not plan for {d.Metadata.Name} on {pods} pods: {string.Join("; ", problems.Select(p => p.Message))}");
        }

        var request = PlanProgression.Request(d, model, pods);
        var bytesPerExpert = ModelValidation.BytesPerExpert(model.Spec);
        var latest = state.Latest;
        if (latest is null)
        {
            var initial = Planned(() => planner.Initial(request, configMap));
            var load = configMap?.Name ?? "none (no profileConfigMap: contiguous)";
            return Result("Initial", null, null, pods, load, [Step(initial)], null, initial.Plan, bytesPerExpert, initial.RemoteBefore, initial.RemoteAfter,
                "no plan yet: the operator's initial plan");
        }

        var from = KubeDeployment.PlanOf(latest);
        var liveProfile = KubeProfiles.FromLive(live, from);
        if (pods != latest.Spec.Pods)
        {
            var profile = liveProfile ?? PlanningProfiles.Uniform(from.Layers, from.Experts, model.Spec.Architecture.TopK);
            var steps = new List<PlanProposal>();
            var current = from;
            while (steps.Count == 0 || !steps[^1].Complete)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (steps.Count == MaxSteps || steps is [.., { Moves: 0 }])
                {
                    throw new InvalidOperationException($"the planner does not reach {pods} pods from plan v{latest.Spec.Version} ({steps.Count} steps, the last moved {steps[^1].Moves} replicas)");
                }

                var step = Planned(() => planner.Next(current, request, profile));
                steps.Add(step);
                current = step.Plan;
            }

            var kind = pods > latest.Spec.Pods ? "ScaleOut" : "ScaleIn";
            var note = steps.Count == 1 ? $"{kind}: one plan version" : $"{kind}: {steps.Count} plan versions, each under the move budget of {request.MaxMoves}";
            return Result(kind, latest.Spec.Version, latest.Spec.Pods, pods, profile.Name, [.. steps.Select(Step)], from, current, bytesPerExpert,
                steps[0].RemoteBefore, steps[^1].RemoteAfter, note);
        }

        var unchanged = Result("NoChange", latest.Spec.Version, latest.Spec.Pods, pods, liveProfile?.Name ?? "none", [], from, from, bytesPerExpert, null, null, "");
        if (d.Spec.Placement.Solver == "contiguous")
        {
            return unchanged with { Note = "the contiguous solver never re-places from live load" };
        }

        if (liveProfile is null)
        {
            return unchanged with { Note = live is null ? "no live profile (none read, or the cluster has no telemetry yet): the operator re-places only from one" : "the live profile is of another model shape" };
        }

        var rebalance = Planned(() => planner.Next(from, request, liveProfile));
        if (rebalance.Moves == 0 || rebalance.Gain < d.Spec.Placement.MinGain)
        {
            return unchanged with
            {
                Steps = [Step(rebalance)],
                ImbalanceBefore = rebalance.ImbalanceBefore,
                ImbalanceAfter = rebalance.ImbalanceBefore,
                RemoteBefore = rebalance.RemoteBefore,
                RemoteAfter = rebalance.RemoteBefore,
                Note = $"a re-placement would gain {rebalance.Gain:F3} with {rebalance.Moves} moves, under spec.placement.minGain {d.Spec.Placement.MinGain:F3}: the operator keeps the plan",
            };
        }

        return Result("Rebalance", latest.Spec.Version, latest.Spec.Pods, pods, liveProfile.Name, [Step(rebalance)], from, rebalance.Plan, bytesPerExpert,
            rebalance.RemoteBefore, rebalance.RemoteAfter, "re-placement at the next interval (spec.placement.replacementIntervalSeconds)");
    }

    /// <summary>The experts whose pods differ between two plans of one shape (pod sets compared; the primary first in each).</summary>
    public static IReadOnlyList<ReplicaChange> Changes(PlacementPlan from, PlacementPlan to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        var changes = new List<ReplicaChange>();
        for (var l = 0; l < from.Layers; l++)
        {
            for (var e = 0; e < from.Experts; e++)
            {
                var before = from.PodsOf(l, e).ToArray();
                var after = to.PodsOf(l, e).ToArray();
                if (!before.Order().SequenceEqual(after.Order()))
                {
                    changes.Add(new ReplicaChange(l, e, before, after));
                }
            }
        }

        return changes;
    }

    private static WhatIfPlan Result(string kind, int? fromVersion, int? fromPods, int pods, string load, IReadOnlyList<WhatIfStep> steps, PlacementPlan? from, PlacementPlan plan,
        long bytesPerExpert, double? remoteBefore, double? remoteAfter, string note)
    {
        var moves = steps.Sum(s => s.Moves);
        return new WhatIfPlan(kind, fromVersion, fromPods, pods, load, steps, from is null ? [] : Changes(from, plan), moves, moves * bytesPerExpert,
            steps.Count > 0 ? steps[0].ImbalanceBefore : null, steps.Count > 0 ? steps[^1].ImbalanceAfter : null, remoteBefore, remoteAfter,
            [.. Enumerable.Range(0, plan.PodCount).Select(p => plan.ReplicasOn(p).Count)], note)
        {
            Plan = plan,
        };
    }

    private static WhatIfStep Step(PlanProposal p) => new(p.Solver, p.Moves, p.ImbalanceBefore, p.ImbalanceAfter, p.Complete);

    /// <summary>A planner call; a plan the request or the profile makes impossible is a clear error (the operator's PlanInfeasible).</summary>
    private static PlanProposal Planned(Func<PlanProposal> plan)
    {
        try
        {
            return plan();
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"no placement plan: {e.Message}", e);
        }
    }
}
