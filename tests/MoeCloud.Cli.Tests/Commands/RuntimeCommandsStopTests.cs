using System.Globalization;
using MoeCloud.Cli.Cluster;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Commands;

/// <summary>
/// How <c>moectl up</c> and <c>moectl silo</c> stop, with moectl as a real process (Linux: signals and /proc). Every
/// bound here is generous (several times the configured grace); none is a timing assertion.
/// </summary>
[Collection(LocalClusterCollection.Name)]
public sealed class RuntimeCommandsStopTests : IDisposable
{
    private static readonly TimeSpan StartBound = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _home = new();
    private readonly TempDirectory _temp = new();

    public void Dispose()
    {
        _home.Dispose();
        _temp.Dispose();
    }

    [Theory]
    [InlineData(false, "INT")]
    [InlineData(false, "TERM")]
    [InlineData(true, "INT")]
    [InlineData(true, "TERM")]
    public async Task Up_WhenSignalled_StopsEveryProcessItStarted(bool processes, string signal)
    {
        using var moectl = await StartUp(processes);
        var started = moectl.Started();
        try
        {
            Assert.True(!processes || started.Count >= 3, $"expected two silo processes and redis-server, found {started.Count}");

            await moectl.Signal(signal);
            var exited = await moectl.WaitForExit(TimeSpan.FromSeconds(90));
            var alive = await MoectlProcess.StillAlive(started, TimeSpan.FromSeconds(10));

            Assert.True(exited, $"moectl up still running after SIG{signal}: {moectl.Error}");
            Assert.True(alive.Count == 0, $"still alive after SIG{signal}: {string.Join(", ", alive)} of {string.Join(", ", started)}");
        }
        finally
        {
            await moectl.KillAll(started);
        }
    }

    [Fact]
    public async Task Up_WhenKilled_ItsSilosAndRedisStopOnTheirOwn()
    {
        using var moectl = await StartUp(processes: true);
        var started = moectl.Started();
        try
        {
            Assert.True(started.Count >= 3, $"expected two silo processes and redis-server, found {started.Count}");

            await moectl.Signal("KILL");
            var alive = await MoectlProcess.StillAlive(started, TimeSpan.FromSeconds(90));

            Assert.True(alive.Count == 0, $"outlived moectl: {string.Join(", ", alive)} of {string.Join(", ", started)}");
        }
        finally
        {
            await moectl.KillAll(started);
        }
    }

    [Fact]
    public async Task Silo_WhenRedisIsGoneAndSigterm_ExitsWithinTheGraceAndSaysWhatItCouldNotDo()
    {
        const int grace = 5;
        var redis = await LocalRedis.Start();
        var ports = FreePorts.Take(4).Select(p => p.ToString(CultureInfo.InvariantCulture)).ToArray();
        using var silo = MoectlProcess.Start(_home.Path, _temp.Path, "silo", "--pod", "0", "--redis", redis.ConnectionString, "--cluster-id", $"stop-{Guid.NewGuid():N}",
            "--silo-port", ports[0], "--gateway-port", ports[1], "--runner-port", ports[2], "--ops-port", ports[3], "--shutdown-timeout", grace.ToString(CultureInfo.InvariantCulture));
        try
        {
            Assert.True(await silo.WaitFor("pod-0 serving", StartBound), silo.Error);
            await redis.DisposeAsync();

            await silo.Signal("TERM");
            var exited = await silo.WaitForExit(TimeSpan.FromSeconds(3 * grace));

            Assert.True(exited, $"the silo was still running {3 * grace} s after SIGTERM: {silo.Error}");
            Assert.Contains("could not remove itself from membership", silo.Error, StringComparison.Ordinal);
        }
        finally
        {
            await silo.KillAll([]);
            await redis.DisposeAsync();
        }
    }

    private async Task<MoectlProcess> StartUp(bool processes)
    {
        string[] args = ["up", "--preset", "tiny", "--silos", "2", "--solver", "eplb"];
        var moectl = MoectlProcess.Start(_home.Path, _temp.Path, processes ? [.. args, "--processes"] : args);
        if (!await moectl.WaitFor("Ctrl-C to stop.", StartBound))
        {
            await moectl.KillAll(moectl.Started());
            var error = moectl.Error;
            moectl.Dispose();
            Assert.Fail($"moectl up did not start serving: {error}");
        }

        return moectl;
    }
}
