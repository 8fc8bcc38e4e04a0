using System.Text.Json;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary><c>moectl bench chaos</c> on silo processes: a silo killed under steady load through the gateway.</summary>
public sealed class BenchChaosTests
{
    [Fact]
    public async Task BenchChaos_WhenASiloIsKilledUnderLoad_GivesNoWrongResultAccountsForEveryFailureAndServesFullyAfterwards()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "chaos", "--scenarios", "kill", "--seconds", "10", "--json");

        Assert.True(code == 0, error);
        var scenario = Assert.Single(JsonDocument.Parse(output).RootElement.GetProperty("scenarios").EnumerateArray());
        Assert.Equal("kill -9 of one silo", scenario.GetProperty("name").GetString());
        Assert.True(scenario.GetProperty("requests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("wrong").GetInt32());
        // Every bad answer is counted under its gRPC status, and only statuses a dying pod may cause appear.
        var failures = scenario.GetProperty("failures").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(scenario.GetProperty("failed").GetInt32(), failures.Values.Sum());
        Assert.All(failures.Keys, k => Assert.Contains(k, new[] { "Unavailable", "DeadlineExceeded" }));
        // The victim is gone, and afterwards every request is served with the reference result.
        Assert.True(scenario.GetProperty("victimExitSeconds").GetDouble() >= 0, output);
        Assert.True(scenario.GetProperty("afterRequests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("afterFailed").GetInt32());
        Assert.True(scenario.GetProperty("recoverySeconds").GetDouble() >= 0, output);
    }
}
