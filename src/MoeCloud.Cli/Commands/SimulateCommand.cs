using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Traces;
using MoeCloud.Placement.Plans;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;

namespace MoeCloud.Cli.Commands;

/// <summary><c>moectl simulate</c>: replay a trace against a plan and a home policy and print the DESIGN.md metrics.</summary>
public static class SimulateCommand
{
    /// <summary>Registers the command.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "simulate",
            "Replay a trace against a plan and a home-pod policy; print remote fraction, imbalances and hit rate.",
            "",
            [
                new("plan", "<plan.json> the plan (required)"),
                new("trace", "<dir> the routing trace to replay (required)"),
                new("home", "<policy> random, first-layer, sequence, speculative or oracle (default speculative)"),
                new("granularity", "<token|request> one home per token (default) or per sequence"),
                new("rehome", "re-home tokens between layers when later layers favour another pod", IsFlag: true),
                new("sequences", "<all|even|odd> sequences to replay (default all)"),
                new("profile", "<dir> trace the speculative policy learns transitions from (default: the other half with --sequences even|odd, else the replayed trace)"),
                new("seed", "<N> seed of random homes and tie breaks (default 1)"),
                new("json", "print JSON", IsFlag: true),
            ],
            Simulate));
    }

    private static async Task<int> Simulate(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var planPath = args.Require("plan");
        var tracePath = args.Require("trace");
        var home = PlacementInputs.ParseHome(args.Get("home") ?? "speculative");
        var granularity = args.GetChoice("granularity", "token", "token", "request") == "token" ? Granularity.Token : Granularity.Request;
        var sequences = args.GetChoice("sequences", "all", PlacementInputs.SequenceChoices);
        var options = new SimulationOptions { Home = home, Granularity = granularity, Rehome = args.Has("rehome"), Seed = args.GetInt("seed", 1) };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var plan = PlanFile.Load(planPath);
        var full = TraceDirectory.Read(tracePath);
        var replay = PlacementInputs.Select(full, sequences, tracePath);
        TransitionModel? model = null;
        if (home == HomePolicy.Speculative || options.Rehome)
        {
            var profileTrace = args.Get("profile") is { } profileDir
                ? TraceDirectory.Read(profileDir)
                : sequences == "all" ? full : PlacementInputs.Select(full, sequences == "even" ? "odd" : "even", tracePath);
            model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(profileTrace, sampleCap: 0));
        }

        var metrics = await Task.Run(() => Simulator.Run(plan, replay, options, model), ct);
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, metrics);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["plan", "home", "granularity", .. PlacementInputs.MetricHeaders],
            [[plan.Info.Solver, PlacementInputs.HomeName(home) + (options.Rehome ? "+rehome" : ""), granularity.ToString().ToLowerInvariant(), .. PlacementInputs.MetricCells(metrics)]]));
        return Moectl.Ok;
    }
}
