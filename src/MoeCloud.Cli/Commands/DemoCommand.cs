using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl demo</c>: analyses the shared ESFT traces beside the checkout, or a synthetic trace when they are absent.
/// </summary>
public static class DemoCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "demo",
            "Analyse the shared routing traces (../shared/traces), or a synthetic trace when they are absent.",
            "",
            [new("json", "print JSON instead of a table", IsFlag: true)],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var dirs = SharedTraces.All();
        var stats = new List<TraceStats>();
        if (dirs.Count > 0)
        {
            await console.Error.WriteLineAsync($"analysing {dirs.Count} shared traces in {Path.GetDirectoryName(dirs[0])}");
            foreach (var dir in dirs)
            {
                ct.ThrowIfCancellationRequested();
                stats.Add(TraceStatistics.Compute(TraceDirectory.Read(dir)));
            }
        }
        else
        {
            await console.Error.WriteLineAsync("no ../shared/traces found (set MOECLOUD_SHARED_TRACES to point at one); analysing a synthetic trace with default knobs");
            var trace = await Task.Run(() => SyntheticTraceGenerator.Generate(new SyntheticTraceOptions(), "synthetic-default"), ct);
            stats.Add(TraceStatistics.Compute(trace));
        }

        return await TraceCommands.PrintStats(stats, args.Json, console);
    }
}
