using Microsoft.Extensions.Time.Testing;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

/// <summary>
/// The ilp's work is set by its deterministic budget, not by the clock: the time limit is only a guard. Every solve here
/// runs on a fake clock, so the guard fires exactly where a test advances the clock and nowhere else.
/// </summary>
public sealed class IlpDeterminismTests
{
    // 2 layers x 32 experts (top-4) on 8 pods with 8 redundant replicas: each layer is one exact model (32 x 8 = 256
    // variables), with the default 8 resamples, so a layer model is not proven optimal in a small budget and a larger
    // budget can end elsewhere.
    private static readonly WorkloadProfile Profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 32, topK: 4, tokens: 1024, sequences: 32));

    private static readonly IlpOptions OneSweep = new() { Sweeps = 1 };

    private static PlacementResult Solve(int seed, TimeSpan timeLimit, IlpOptions? options = null, TimeProvider? time = null, IProgress<string>? progress = null) =>
        new IlpSolver(options ?? OneSweep).Solve(new PlacementProblem(Profile, 8, redundant: 8) { Seed = seed, TimeLimit = timeLimit, Time = time ?? new FakeTimeProvider() }, progress);

    [Fact]
    public void Ilp_WhenOnlyTheTimeLimitDiffers_GivesTheSamePlan()
    {
        // The fake clock never advances, so neither limit is reached; before the deterministic budget, each layer
        // model's budget was 0.5 x the time limit / (sweeps x layers), so the two limits searched for different times.
        var shorter = Solve(seed: 5, TimeSpan.FromSeconds(0.5));
        var longer = Solve(seed: 5, TimeSpan.FromSeconds(2));

        Assert.Equal(SolveStatus.Feasible, shorter.Status);
        Assert.Equal(SolveStatus.Feasible, longer.Status);
        Assert.Equal(shorter.Plan!.ToAssignment(), longer.Plan!.ToAssignment());
    }

    [Fact]
    public void Ilp_WhenSameSeedAndInputs_GivesIdenticalPlansAndAnotherSeedAnother()
    {
        var options = OneSweep with { Sweeps = 2, DeterministicSeconds = 0.4 };

        var a = Solve(seed: 5, TimeSpan.FromHours(1), options);
        var b = Solve(seed: 5, TimeSpan.FromHours(1), options);
        var other = Solve(seed: 6, TimeSpan.FromHours(1), options);

        Assert.Equal(SolveStatus.Feasible, a.Status);
        Assert.Equal(a.Plan!.ToAssignment(), b.Plan!.ToAssignment());
        Assert.Equal(a.Summary.Objective, b.Summary.Objective);
        Assert.NotEqual(a.Plan.ToAssignment(), other.Plan!.ToAssignment());
    }

    [Fact]
    public void Ilp_WhenSolvedOnOneThreadOrOnSeveral_GivesIdenticalPlans()
    {
        // Four layers, so each red-black colour holds two layer models that can solve side by side.
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 4, experts: 32, topK: 4, tokens: 1024, sequences: 32));
        PlacementResult SolveOn(int threads) =>
            new IlpSolver(new IlpOptions { Sweeps = 2, DeterministicSeconds = 0.4, Threads = threads })
                .Solve(new PlacementProblem(profile, 8, redundant: 8) { Seed = 3, TimeLimit = TimeSpan.FromHours(1), Time = new FakeTimeProvider() });

        var one = SolveOn(1);
        var four = SolveOn(4);

        Assert.Equal(SolveStatus.Feasible, one.Status);
        Assert.Equal(one.Plan!.ToAssignment(), four.Plan!.ToAssignment());
        Assert.Equal(one.Summary.Objective, four.Summary.Objective);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public void Validate_WhenThreadsOutOfRange_ThrowsNamingIt(int threads)
    {
        var error = Assert.Throws<ArgumentException>(() => new IlpOptions { Threads = threads }.Validate());

        Assert.Contains(nameof(IlpOptions.Threads), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ilp_WhenTheWallClockGuardCuts_ReturnsTimedOutAndSaysTheRunIsNotReproducible()
    {
        // Every progress line (the warm start's first) moves the clock a minute: past the tiny limit before layer 0.
        var clock = new FakeTimeProvider();
        var progress = new Advance(clock, TimeSpan.FromMinutes(1));

        var result = Solve(seed: 5, TimeSpan.FromMilliseconds(1), time: clock, progress: progress);

        Assert.Equal(SolveStatus.TimedOut, result.Status);
        Assert.NotNull(result.Plan);
        Assert.Contains("stopped by the wall-clock guard", result.Summary.Note, StringComparison.Ordinal);
        Assert.Contains("need not reproduce", result.Summary.Note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(double.NaN)]
    [InlineData(1e6)]
    public void Validate_WhenDeterministicSecondsOutOfRange_ThrowsNamingIt(double seconds)
    {
        var error = Assert.Throws<ArgumentException>(() => new IlpOptions { DeterministicSeconds = seconds }.Validate());

        Assert.Contains(nameof(IlpOptions.DeterministicSeconds), error.Message, StringComparison.Ordinal);
    }

    private sealed class Advance(FakeTimeProvider clock, TimeSpan step) : IProgress<string>
    {
        public void Report(string value) => clock.Advance(step);
    }
}
