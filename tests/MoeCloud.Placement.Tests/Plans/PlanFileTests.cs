using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Simulation;
using MoeCloud.Testing;

namespace MoeCloud.Placement.Tests.Plans;

public sealed class PlanFileTests
{
    [Fact]
    public void SaveLoad_WhenRoundTripped_KeepsAssignmentPodsAndInfo()
    {
        using var dir = new TempDirectory();
        var info = new PlanMetadata { Version = 3, Solver = "eplb", ProfileName = "p", ProfileFingerprint = "abc", Seed = 9, CreatedUtc = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero) };
        var plan = new PlacementPlan(info, [new PodSpec(0, 5), new PodSpec(1, 4)], [[[0], [1, 0], [1]], [[1], [0], [0, 1]]]);
        var path = dir.Combine("plan.json");

        PlanFile.Save(path, plan);
        var loaded = PlanFile.Load(path);

        Assert.Equal(plan.ToAssignment(), loaded.ToAssignment());
        Assert.Equal(plan.Pods, loaded.Pods);
        Assert.Equal(info, loaded.Info);
        Assert.Equal(1, loaded.Redundant);
        Assert.Contains("\"format\": \"moecloud.plan/v1\"", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void SaveLoad_WhenPredictedCarriesATimePrediction_RoundTripsIt()
    {
        using var dir = new TempDirectory();
        var layers = new[] { new LayerTime(0, 16_384, 16.144e-6, 16.144e-6, new PairTail(0, 0, 1, 12_288, 32.288e-6)), new LayerTime(1, 0, 0, 0, null) };
        var time = new TimePrediction("ib400", 50, 5, 2048, 2, 32.288e-6, 16.144e-6, 32.288e-6, layers[0].Tail, layers);
        var predicted = new SimulationMetrics(0.5, 1.1, 1.0, 0.7, 3, 8, 4, 0, 4, time);
        var plan = TestData.Plan(2, [[[0], [1]], [[1], [0]]]);
        plan = plan.WithInfo(plan.Info with { Predicted = predicted });
        var path = dir.Combine("plan.json");

        PlanFile.Save(path, plan);
        var loaded = PlanFile.Load(path).Info.Predicted!;

        Assert.Equal(predicted with { Time = null }, loaded with { Time = null });
        Assert.Equal(time with { Layers = [] }, loaded.Time! with { Layers = [] });
        Assert.Equal(layers, loaded.Time.Layers);
    }

    [Fact]
    public void SaveLoad_WhenPredictedHasNoTimePrediction_WritesNoTimeKeyAndReadsNull()
    {
        using var dir = new TempDirectory();
        var plan = TestData.Plan(2, [[[0], [1]]]);
        plan = plan.WithInfo(plan.Info with { Predicted = new SimulationMetrics(0.5, 1.1, 1.0, 0.7, 1, 8, 4, 0, 4) });
        var path = dir.Combine("plan.json");

        PlanFile.Save(path, plan);
        var loaded = PlanFile.Load(path);

        Assert.DoesNotContain("\"time\"", File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Equal(plan.Info.Predicted, loaded.Info.Predicted);
        Assert.Null(loaded.Info.Predicted!.Time);
    }

    [Fact]
    public void Lookups_WhenPlanHasReplicas_GiveReplicaIndexToPodAndPodToReplicas()
    {
        var plan = TestData.Plan(2, [[[0], [1, 0]]]);

        Assert.Equal([1, 0], plan.PodsOf(0, 1).ToArray());
        Assert.Equal([new ReplicaRef(0, 0, 0), new ReplicaRef(0, 1, 1)], plan.ReplicasOn(0));
        Assert.Equal([new ReplicaRef(0, 1, 0)], plan.ReplicasOn(1));
        Assert.True(plan.Holds(0, 0, 1));
        Assert.False(plan.Holds(1, 0, 0));
    }

    [Theory]
    [InlineData("not json", "is not a valid plan JSON")]
    [InlineData("{\"format\": \"other\"}", "has format 'other'")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 2, \"pods\": [{\"id\": 0, \"capacity\": 4}], \"assignment\": [[[0], []]]}", "layer 0, expert 1 has no replica")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 2, \"pods\": [{\"id\": 0, \"capacity\": 4}], \"assignment\": [[[0], [3]]]}", "pod id 3 is outside [0, 1)")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 2, \"pods\": [{\"id\": 0, \"capacity\": 1}], \"assignment\": [[[0], [0]]]}", "pod 0 holds 2 replicas, over its capacity of 1")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 1, \"pods\": [{\"id\": 0, \"capacity\": 9}, {\"id\": 1, \"capacity\": 9}], \"assignment\": [[[1, 1]]]}", "two replicas on the same pod")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 2, \"experts\": 1, \"pods\": [{\"id\": 0, \"capacity\": 9}], \"assignment\": [[[0]]]}", "'assignment' must be [2 layers][1 experts]")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 1, \"pods\": [{\"id\": 4, \"capacity\": 9}], \"assignment\": [[[0]]]}", "pod at index 0 must have id 0")]
    [InlineData("{\"format\": \"moecloud.plan/v1\", \"layers\": 1, \"experts\": 1, \"pods\": [{\"id\": 0, \"capacity\": 9}], \"assignment\": [[[0.5]]]}", "pod ids in 'assignment' must be whole numbers")]
    public void Load_WhenFileIsBad_ThrowsNamingFileAndProblem(string json, string problem)
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("bad.json");
        File.WriteAllText(path, json);

        var e = Assert.Throws<PlanFormatException>(() => PlanFile.Load(path));

        Assert.Equal(path, e.FilePath);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WhenFileIsMissing_ThrowsNamingFile()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("absent.json");

        var e = Assert.Throws<PlanFormatException>(() => PlanFile.Load(path));

        Assert.Equal(path, e.FilePath);
    }

    [Fact]
    public void MovesTo_WhenOneReplicaMoves_CountsOne()
    {
        var a = TestData.Plan(2, [[[0], [1]]]);
        var b = TestData.Plan(2, [[[1], [1]]]);

        Assert.Equal(1, a.MovesTo(b));
        Assert.Equal(0, a.MovesTo(a));
    }
}
