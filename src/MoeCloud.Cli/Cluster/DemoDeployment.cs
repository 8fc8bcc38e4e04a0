using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Cli.Cluster;

/// <summary>What a local cluster serves: a synthetic model on disk, a trace recorded from it, and a plan solved for it.</summary>
/// <param name="Name">Model name in the cluster.</param>
/// <param name="ModelDirectory">The checkpoint.</param>
/// <param name="Trace">Routing recorded from the model (the profile the plan was fitted on).</param>
/// <param name="Plan">The placement.</param>
public sealed record Deployment(string Name, string ModelDirectory, RoutingTrace Trace, PlacementPlan Plan);

/// <summary>Creates (or reuses) the demo model under <c>.moecloud/</c>, records its routing and solves a plan.</summary>
public static class DemoDeployment
{
    /// <summary>The working folder: <c>MOECLOUD_HOME</c>, or <c>.moecloud</c> in the current directory.</summary>
    public static string Home => Environment.GetEnvironmentVariable("MOECLOUD_HOME") is { Length: > 0 } home ? home : Path.Combine(Directory.GetCurrentDirectory(), ".moecloud");

    /// <summary>Ensures the model exists (created deterministically from the preset and seed) and returns its directory.</summary>
    public static async Task<string> EnsureModel(string preset, int seed, TextWriter log, CancellationToken ct)
    {
        var dir = Path.Combine(Home, "models", $"{preset}-seed{seed}");
        if (File.Exists(Path.Combine(dir, ModelCheckpoint.ConfigFile)))
        {
            return dir;
        }

        var (spec, vocabulary) = SyntheticModelPresets.Get(preset);
        await log.WriteLineAsync($"creating the {preset} model ({spec.MoeLayers} MoE layers × {spec.Experts} experts, top-{spec.TopK}, hidden {spec.Hidden}, {spec.DType}) in {dir}");
        var staging = dir + ".tmp";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        await Task.Run(() => SyntheticModelWriter.Write(staging, spec, vocabulary, new SyntheticModelOptions { Seed = seed }), ct);
        Directory.Move(staging, dir);
        return dir;
    }

    /// <summary>Records routing from the model's own gates on its synthetic inputs.</summary>
    public static async Task<RoutingTrace> Record(string modelDir, int tokens, int sequences, int seed, CancellationToken ct)
    {
        using var checkpoint = ModelCheckpoint.Open(modelDir);
        return await Task.Run(() =>
        {
            var forward = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel());
            return ModelTraceRecorder.Record(checkpoint, forward, new ModelTraceOptions { Tokens = tokens, Sequences = sequences, Seed = seed }, Path.GetFileName(modelDir));
        }, ct);
    }

    /// <summary>Solves a plan for <paramref name="pods"/> pods on the trace's even sequences.</summary>
    public static async Task<PlacementPlan> Solve(RoutingTrace trace, int pods, int redundant, string solver, double timeLimitSeconds, TextWriter log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var fit = trace.Sequences.Count >= 2 ? trace.SplitEvenOdd().Even : trace;
        var problem = new PlacementProblem(WorkloadProfile.FromTrace(fit), pods, redundant) { TimeLimit = TimeSpan.FromSeconds(timeLimitSeconds) };
        var result = await Task.Run(() => PlacementSolvers.Create(solver).Solve(problem, null, ct), ct);
        if (result.Plan is null)
        {
            throw new InvalidOperationException($"the {solver} solver found no plan for {pods} pods: {result.Summary.Note}");
        }

        await log.WriteLineAsync($"solved a {solver} plan for {pods} pods ({result.Summary.Status}, {result.Summary.Seconds:F1} s)");
        return result.Plan;
    }

    /// <summary>Model, trace and plan for the demo cluster.</summary>
    public static async Task<Deployment> Prepare(string name, string preset, int seed, int pods, string solver, TextWriter log, CancellationToken ct)
    {
        var modelDir = await EnsureModel(preset, seed, log, ct);
        var trace = await Record(modelDir, tokens: 2048, sequences: 32, seed, ct);
        var plan = await Solve(trace, pods, redundant: pods, solver, timeLimitSeconds: 5, log, ct);
        return new Deployment(name, modelDir, trace, plan);
    }
}
