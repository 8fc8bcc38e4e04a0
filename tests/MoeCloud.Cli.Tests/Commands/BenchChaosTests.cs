using System.Text.Json;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Tests.Cluster;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary><c>moectl bench chaos</c>: each fault under steady load through the gateway, a few seconds each.</summary>
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

    [Fact]
    public async Task BenchChaos_WhenOneOfTwoGatewayReplicasCrashesAndRestartsUnderLoad_FailsNoRequestAndServesFullyAfterwards()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "chaos", "--mode", "embedded", "--scenario", "gateway-restart", "--seconds", "6", "--outage", "2", "--json");

        Assert.True(code == 0, error);
        var scenario = Single(output, "gateway replica crashed and restarted");
        Assert.True(scenario.GetProperty("requests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("failed").GetInt32());
        Assert.Equal(0, scenario.GetProperty("wrong").GetInt32());
        Assert.True(scenario.GetProperty("outageSeconds").GetDouble() >= 2, output);
        Assert.Equal(0, scenario.GetProperty("afterFailed").GetInt32());
    }

    [Fact]
    public async Task BenchChaos_WhenRedisRestartsUnderLoad_GivesNoWrongResultKeepsEverySiloAndServesFullyAfterwards()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "chaos", "--scenario", "redis-restart", "--seconds", "8", "--outage", "2", "--json");

        Assert.True(code == 0, error);
        var scenario = Single(output, "Redis (membership) restarted");
        Assert.True(scenario.GetProperty("requests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("wrong").GetInt32());
        // A failure may only be a request whose deadline passed during the outage.
        Assert.Equal(scenario.GetProperty("failed").GetInt32(), scenario.GetProperty("failedInOutage").GetInt32());
        Assert.All(scenario.GetProperty("failures").EnumerateObject(), p => Assert.Equal("DeadlineExceeded", p.Name));
        Assert.Equal("every silo kept running", scenario.GetProperty("note").GetString());
        Assert.Equal(0, scenario.GetProperty("afterFailed").GetInt32());
    }

    [ShapedNetworkFact]
    public async Task BenchChaos_WhenASiloIsCutOffTheNetworkAndHealed_GivesNoWrongResultAndServesFullyAfterwards()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "chaos", "--scenario", "partition", "--seconds", "8", "--outage", "2", "--json");

        Assert.True(code == 0, error);
        var scenario = Single(output, "one silo cut off the network, then healed");
        Assert.True(scenario.GetProperty("requests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("wrong").GetInt32());
        Assert.Equal(scenario.GetProperty("failed").GetInt32(), scenario.GetProperty("failedInOutage").GetInt32());
        Assert.All(scenario.GetProperty("failures").EnumerateObject(), p => Assert.Equal("DeadlineExceeded", p.Name));
        Assert.Equal(0, scenario.GetProperty("afterFailed").GetInt32());
    }

    [Fact]
    public async Task BenchChaos_WhenEmbeddedModeIsAskedToKillASilo_IsAUsageErrorThatSaysWhy()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "chaos", "--mode", "embedded", "--scenario", "kill");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("needs --mode processes", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchChaos_WhenTheOnlyReplicaOfSomeExpertsIsKilledUnderLoad_GivesNoWrongResultRepairsThePlanAndServesFullyAfterwards()
    {
        var (code, output, error) = await MoectlRunner.Run("bench", "chaos", "--scenario", "kill-sole-replica", "--seconds", "12", "--json");

        Assert.True(code == 0, error);
        var scenario = Single(output, "kill -9 of the silo holding the only replicas of some experts");
        Assert.True(scenario.GetProperty("requests").GetInt32() > 0, output);
        Assert.Equal(0, scenario.GetProperty("wrong").GetInt32());
        // A request that needed a re-placed expert waited for the repair plan; one can only fail by its deadline (the
        // wait's bound: DeadlineExceeded, or Cancelled when the gateway's own call is cancelled at the deadline and
        // answers first) or, in flight on the killed pod itself, as Unavailable once the gateway's retries are spent.
        var failures = scenario.GetProperty("failures").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(scenario.GetProperty("failed").GetInt32(), failures.Values.Sum());
        Assert.All(failures.Keys, k => Assert.Contains(k, new[] { "Unavailable", "DeadlineExceeded", "Cancelled" }));
        // The repair plan took effect, and afterwards every request is served with the reference result.
        Assert.True(scenario.GetProperty("repairSeconds").GetDouble() > 0, output);
        Assert.Contains("repair plan 2 in effect", scenario.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, scenario.GetProperty("afterFailed").GetInt32());
    }

    [Fact]
    public async Task BenchChaos_WhenEmbeddedModeIsAskedToKillTheOnlyReplica_IsAUsageErrorThatNamesTheModesThatRunIt()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "chaos", "--mode", "embedded", "--scenario", "kill-sole-replica");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("scenario 'kill-sole-replica' needs --mode processes or containers", error, StringComparison.Ordinal);
        Assert.Contains("embedded mode runs gateway-restart only", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BenchChaos_WhenAScenarioIsUnknown_IsAUsageErrorThatListsEveryScenario()
    {
        var (code, _, error) = await MoectlRunner.Run("bench", "chaos", "--mode", "containers", "--scenario", "flood");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("take kill, term, gateway-restart, redis-restart, partition, kill-sole-replica (comma-separated), not 'flood'", error, StringComparison.Ordinal);
    }

    private static JsonElement Single(string output, string name)
    {
        var scenario = Assert.Single(JsonDocument.Parse(output).RootElement.GetProperty("scenarios").EnumerateArray());
        Assert.Equal(name, scenario.GetProperty("name").GetString());
        return scenario;
    }
}
