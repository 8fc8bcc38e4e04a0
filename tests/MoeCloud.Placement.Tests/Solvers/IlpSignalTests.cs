using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Solvers;

namespace MoeCloud.Placement.Tests.Solvers;

/// <summary>
/// CP-SAT installs its own SIGINT handler for a solve unless told not to, and afterwards puts back the default action,
/// not the handler it found: a program that solved a plan (`moectl up`) was then killed by Ctrl-C instead of stopping
/// what it had started. The ilp turns that off (<c>catch_sigint_signal:false</c>).
/// </summary>
public sealed class IlpSignalTests
{
    [Fact]
    public void Ilp_AfterASolve_LeavesTheProcesssSigintHandlerInPlace()
    {
        using var handler = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => context.Cancel = true);
        Assert.True(CatchesSigint(), "the registration should have installed a SIGINT handler");
        var profile = WorkloadProfile.FromTrace(TestData.Synthetic(layers: 2, experts: 16, topK: 2, tokens: 256, sequences: 8));

        var result = new IlpSolver(new IlpOptions { Sweeps = 1 }).Solve(new PlacementProblem(profile, 4, redundant: 4) { Seed = 1, TimeLimit = TimeSpan.FromHours(1), Time = new FakeTimeProvider() });

        Assert.Equal(SolveStatus.Feasible, result.Status);
        Assert.True(CatchesSigint(), "after the solve, SIGINT is no longer caught: Ctrl-C would kill the process");
    }

    /// <summary>Whether this process catches SIGINT (bit 1 of <c>SigCgt</c> in <c>/proc/self/status</c>).</summary>
    private static bool CatchesSigint()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("SigCgt:", StringComparison.Ordinal));
        var mask = ulong.Parse(line["SigCgt:".Length..].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (mask & (1UL << 1)) != 0;
    }
}
