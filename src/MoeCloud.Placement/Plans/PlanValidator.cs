namespace MoeCloud.Placement.Plans;

/// <summary>The structural checks every plan passes: shapes, pod ids, distinct replicas, capacities.</summary>
internal static class PlanValidator
{
    /// <summary>Every problem found (empty when the plan is valid).</summary>
    public static List<string> Problems(IReadOnlyList<PodSpec> pods, int[][][] assignment)
    {
        var problems = new List<string>();
        if (pods.Count == 0)
        {
            problems.Add("a plan needs at least one pod");
            return problems;
        }

        for (var i = 0; i < pods.Count; i++)
        {
            if (pods[i] is null || pods[i].Id != i)
            {
                problems.Add($"pod at index {i} must have id {i}");
            }
            else if (pods[i].Capacity < 0)
            {
                problems.Add($"pod {i} has negative capacity {pods[i].Capacity}");
            }
        }

        if (assignment.Length == 0 || assignment[0] is null || assignment[0].Length == 0)
        {
            problems.Add("the assignment needs at least one layer with at least one expert");
            return problems;
        }

        var experts = assignment[0].Length;
        var used = new int[pods.Count];
        for (var l = 0; l < assignment.Length; l++)
        {
            if (assignment[l] is null || assignment[l].Length != experts)
            {
                problems.Add($"layer {l} has {assignment[l]?.Length ?? 0} experts, layer 0 has {experts}");
                continue;
            }

            for (var e = 0; e < experts; e++)
            {
                var replicas = assignment[l][e];
                if (replicas is null || replicas.Length == 0)
                {
                    problems.Add($"layer {l}, expert {e} has no replica");
                    continue;
                }

                foreach (var p in replicas)
                {
                    if ((uint)p >= (uint)pods.Count)
                    {
                        problems.Add($"layer {l}, expert {e}: pod id {p} is outside [0, {pods.Count})");
                    }
                    else
                    {
                        used[p]++;
                    }
                }

                if (replicas.Distinct().Count() != replicas.Length)
                {
                    problems.Add($"layer {l}, expert {e} has two replicas on the same pod ({string.Join(", ", replicas)})");
                }
            }
        }

        for (var p = 0; p < pods.Count; p++)
        {
            if (pods[p] is not null && used[p] > pods[p].Capacity)
            {
                problems.Add($"pod {p} holds {used[p]} replicas, over its capacity of {pods[p].Capacity}");
            }
        }

        return problems;
    }
}
