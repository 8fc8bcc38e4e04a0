using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;

namespace MoeCloud.Placement.Tests;

/// <summary>Small hand-made traces and plans.</summary>
internal static class TestData
{
    /// <summary>A trace from per-token routing <c>[token][layer][slot]</c>; sequence ids default to one sequence per token.</summary>
    public static RoutingTrace Trace(int experts, int[][][] routing, int[]? seqIds = null)
    {
        int tokens = routing.Length, layers = routing[0].Length, k = routing[0][0].Length;
        var ids = routing.SelectMany(t => t.SelectMany(l => l.Select(e => (short)e))).ToArray();
        var manifest = new TraceManifest { Name = "hand", Model = "test", Layers = layers, Experts = experts, TopK = k, Tokens = tokens };
        return new RoutingTrace(manifest, ids, null, seqIds ?? Enumerable.Range(0, tokens).ToArray());
    }

    /// <summary>A plan from <c>[layer][expert] → pods</c> with generous capacities.</summary>
    public static PlacementPlan Plan(int pods, int[][][] assignment, int capacity = 1000) =>
        new(new PlanMetadata { Solver = "hand" }, Enumerable.Range(0, pods).Select(p => new PodSpec(p, capacity)).ToArray(), assignment);

    /// <summary>The same layer placement repeated over <paramref name="layers"/> layers.</summary>
    public static int[][][] Repeat(int layers, params int[][] layer) => Enumerable.Range(0, layers).Select(_ => layer.Select(p => (int[])p.Clone()).ToArray()).ToArray();

    /// <summary>A small synthetic trace with strong cross-layer affinity.</summary>
    public static RoutingTrace Synthetic(int layers = 6, int experts = 16, int topK = 2, int tokens = 2048, int sequences = 32, int seed = 3) =>
        SyntheticTraceGenerator.Generate(new SyntheticTraceOptions { Layers = layers, Experts = experts, TopK = topK, Tokens = tokens, Sequences = sequences, Seed = seed }, "synthetic-test");

    public static WorkloadProfile Profile(RoutingTrace trace) => WorkloadProfile.FromTrace(trace);
}
