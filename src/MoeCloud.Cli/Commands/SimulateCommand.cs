using System.Globalization;
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
                new("granularity", "<token|request|auto> one home per token (default), per sequence, or per sequence whichever the link prices lower (auto: the gateway's rule, priced on --link, default loopback, with --hidden and --dtype)"),
                new("rehome", "re-home tokens between layers when later layers favour another pod", IsFlag: true),
                new("sequences", "<all|even|odd> sequences to replay (default all)"),
                new("profile", "<dir> trace the speculative policy learns transitions from (default: the other half with --sequences even|odd, else the replayed trace)"),
                new("tune", "tune the speculative predictor's weights (horizon, predicted and previous-step weights, two-layer pseudo-count) on the --profile trace only, a held-out part of it scoring each setting", IsFlag: true),
                new("seed", "<N> seed of random homes and tie breaks (default 1)"),
                new("link", "<preset|GB/s,µs> also predict each layer's dispatch + combine time and its slowest pod pair on this link: nvlink (450 GB/s, 2 µs), ib400 (50 GB/s, 5 µs), eth100 (12.5 GB/s, 20 µs), loopback (this runtime's pods on one machine), or for example 25,3.5"),
                new("hidden", "<H> hidden size of a dispatched token for --link (default 2048, DeepSeek-V2-Lite)"),
                new("dtype", "<bf16|fp16|fp8|f32> element type of a dispatched token for --link (default bf16)"),
                new("write-plan", "<plan.json> write the plan again with this replay's metrics (and --link's time) as its predicted block"),
                new("json", "print JSON", IsFlag: true),
            ],
            Simulate));
    }

    private static async Task<int> Simulate(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var planPath = args.Require("plan");
        var tracePath = args.Require("trace");
        var home = PlacementInputs.ParseHome(args.Get("home") ?? "speculative");
        var granularity = args.GetChoice("granularity", "token", "token", "request", "auto") switch
        {
            "request" => Granularity.Request,
            "auto" => Granularity.Auto,
            _ => Granularity.Token,
        };
        var sequences = args.GetChoice("sequences", "all", PlacementInputs.SequenceChoices);
        LinkModel? link = null;
        if (args.Get("link") is { } linkText)
        {
            try
            {
                link = LinkModel.Parse(linkText);
            }
            catch (ArgumentException e)
            {
                throw new UsageException($"option '--link': {e.Message}");
            }
        }
        else if ((args.Has("hidden") || args.Has("dtype")) && granularity != Granularity.Auto)
        {
            throw new UsageException("options '--hidden' and '--dtype' size the time model (and --granularity auto's split rule): give '--link' too");
        }

        var hidden = args.GetInt("hidden", 2048, 1, 1 << 20);
        var dtypeBytes = args.GetChoice("dtype", "bf16", "bf16", "fp16", "fp8", "f32") switch { "fp8" => 1, "f32" => 4, _ => 2 };
        var split = granularity == Granularity.Auto ? new SplitRule(link ?? SplitRule.Loopback, hidden, dtypeBytes) : null;
        var options = new SimulationOptions { Home = home, Granularity = granularity, Rehome = args.Has("rehome"), Seed = args.GetInt("seed", 1), Split = split };
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
            model = TransitionModel.FromProfile(WorkloadProfile.FromTrace(profileTrace));
            if (args.Has("tune") && home == HomePolicy.Speculative)
            {
                var tuning = await Task.Run(() => SpeculativeTuner.Tune(plan, profileTrace, options.Speculative, options.Seed), ct);
                options = options with { Speculative = tuning.Options };
                var o = tuning.Options;
                await console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"tuned on '{profileTrace.Manifest.Name}' ({tuning.Candidates} settings, held-out hit rate {tuning.StartHitRate:F3} -> {tuning.HeldOutHitRate:F3}): horizon {o.Horizon}, predicted weight {o.PredictedWeight}, two-layer {(o.TwoLayer ? o.PairBackoff.ToString(CultureInfo.InvariantCulture) : "off")}, previous-step weight {o.PreviousStepWeight}"));
            }
        }
        else if (args.Has("tune"))
        {
            throw new UsageException("option '--tune' tunes the speculative policy: use it with '--home speculative'");
        }

        var metrics = await Task.Run(
            () =>
            {
                if (link is null)
                {
                    return Simulator.Run(plan, replay, options, model);
                }

                var traffic = new PodTraffic(plan.Layers, plan.PodCount);
                var replayed = Simulator.Run(plan, replay, options, model, traffic);
                return replayed with { Time = TimeModel.Predict(traffic, link, hidden, dtypeBytes) };
            },
            ct);
        if (args.Get("write-plan") is { } outPath)
        {
            PlanFile.Save(outPath, plan.WithInfo(plan.Info with { Predicted = metrics }));
            await console.Error.WriteLineAsync($"wrote {outPath} with this replay's metrics as its predicted block");
        }

        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, metrics);
            return Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["plan", "home", "granularity", .. PlacementInputs.MetricHeaders],
            [[plan.Info.Solver, PlacementInputs.HomeName(home) + (options.Rehome ? "+rehome" : ""), granularity.ToString().ToLowerInvariant(), .. PlacementInputs.MetricCells(metrics)]]));
        if (metrics.Time is { } time)
        {
            await WriteTime(console.Out, time, replay.Tokens);
        }

        return Moectl.Ok;
    }

    private static async Task WriteTime(TextWriter output, TimePrediction time, int tokens)
    {
        static string Micros(double seconds) => CliOutput.Num(seconds * 1e6, 1);
        await output.WriteLineAsync();
        await output.WriteLineAsync($"time model: link {time.Link} ({CliOutput.Num(time.GigabytesPerSecond, 1)} GB/s, {CliOutput.Num(time.LatencyMicroseconds, 1)} µs per message), tokens of {time.Hidden} x {time.BytesPerElement} B, the {CliOutput.Count(tokens)} replayed tokens as one batch");
        var slowest = time.Layers.OrderByDescending(l => l.Seconds).ThenBy(l => l.Layer).Take(5).OrderBy(l => l.Layer);
        await output.WriteLineAsync(CliOutput.Table(
            ["layer", "MB", "dispatch µs", "combine µs", "layer µs", "tail pair", "tail MB", "tail µs"],
            slowest.Select(l => (IReadOnlyList<string>)
            [
                l.Layer.ToString(CultureInfo.InvariantCulture), CliOutput.Num(l.Bytes / 1e6, 2), Micros(l.DispatchSeconds), Micros(l.CombineSeconds), Micros(l.Seconds),
                l.Tail is { } t ? $"{t.From}->{t.To}" : "-", l.Tail is { } tb ? CliOutput.Num(tb.Bytes / 1e6, 2) : "-", l.Tail is { } ts ? Micros(ts.Seconds) : "-",
            ])));
        await output.WriteLineAsync($"all {time.Layers.Count} layers (the 5 slowest shown): {Micros(time.Seconds)} µs of dispatch + combine, {Micros(time.MeanLayerSeconds)} µs per layer on average, slowest layer {Micros(time.MaxLayerSeconds)} µs");
        if (time.Tail is { } tail)
        {
            await output.WriteLineAsync($"all-to-all tail: layer {tail.Layer}, pod {tail.From} -> {tail.To} and back, {CliOutput.Num(tail.Bytes / 1e6, 2)} MB, {Micros(tail.Seconds)} µs");
        }

        await output.WriteLineAsync("model: per layer and phase, each pod's link serialises its messages (latency + bytes / bandwidth each, full duplex); the phase is the busiest pod's max(send, receive); compute and overlap not modelled.");
    }
}
