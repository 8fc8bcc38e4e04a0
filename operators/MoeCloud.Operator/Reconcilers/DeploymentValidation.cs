using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Placement;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>Why a MoeDeployment cannot be served: missing or invalid model, and the CRD's cross-field rules.</summary>
public static class DeploymentValidation
{
    private static readonly string[] Solvers = ["contiguous", "eplb", "ilp"];

    public static List<Problem> Check(MoeDeployment d, MoeModel? model)
    {
        ArgumentNullException.ThrowIfNull(d);
        var problems = new List<Problem>();
        if (model is null)
        {
            problems.Add(new Problem("ModelNotFound", $"spec.modelRef: MoeModel \"{d.Spec.ModelRef.Name}\" does not exist in namespace {d.Metadata.NamespaceProperty}"));
            return problems;
        }

        if (ModelValidation.CheckSpec(model.Spec) is { Count: > 0 } modelProblems)
        {
            problems.Add(new Problem("ModelInvalid", $"MoeModel \"{model.Metadata.Name}\" is invalid: {string.Join("; ", modelProblems.Select(p => p.Message))}"));
        }
        else if (model.Status?.Phase == "Invalid")
        {
            problems.Add(new Problem("ModelInvalid", $"MoeModel \"{model.Metadata.Name}\" is invalid: {model.Status.Conditions.FirstOrDefault(c => c.Type == "Degraded")?.Message}"));
        }

        var spec = d.Spec;
        if (spec.Replicas < 1)
        {
            problems.Add(new Problem("InvalidSpec", $"spec.replicas must be at least 1 (was {spec.Replicas})"));
        }

        if (spec.Autoscaling.Pods.MinReplicas > spec.Autoscaling.Pods.MaxReplicas)
        {
            problems.Add(new Problem("InvalidSpec", $"spec.autoscaling.pods.minReplicas ({spec.Autoscaling.Pods.MinReplicas}) exceeds maxReplicas ({spec.Autoscaling.Pods.MaxReplicas})"));
        }

        problems.AddRange(PodAutoscaling.Check(spec.Autoscaling.Pods));
        if (!Solvers.Contains(spec.Placement.Solver))
        {
            problems.Add(new Problem("InvalidSpec", $"spec.placement.solver \"{spec.Placement.Solver}\" is not one of {string.Join(", ", Solvers)}"));
        }

        if (spec.Placement.MaxMoves < 1 || !double.IsFinite(spec.Placement.MinGain) || spec.Placement.MinGain < 0)
        {
            problems.Add(new Problem("InvalidSpec", "spec.placement.maxMoves must be at least 1 and minGain a non-negative number"));
        }

        var experts = model.Spec.Architecture.Experts;
        if (spec.Replicas >= 1 && experts >= 1 && (long)LibraryPlanner.Capacity(experts, spec.Replicas, spec.Resources.ExpertsPerPod) * spec.Replicas < experts)
        {
            problems.Add(new Problem("InsufficientCapacity",
                $"{spec.Replicas} pods x spec.resources.expertsPerPod {spec.Resources.ExpertsPerPod} cannot hold the model's {experts} experts per layer"));
        }

        problems.AddRange(ExpertReplicaScaling.Check(d, model));
        return problems;
    }
}
