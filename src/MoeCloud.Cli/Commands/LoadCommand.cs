using System.Globalization;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Load;
using MoeCloud.Client;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl load</c>: an open-loop load through the gateway (<see cref="LoadGenerator"/>), reported per window and in
/// total: throughput, latency percentiles, failures, SLO attainment.
/// </summary>
public static class LoadCommand
{
    /// <summary>Registers <c>load</c>.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Add(new CliCommand(
            "load",
            "Offer an open-loop load (requests on a schedule, not after replies) through the gateway and report throughput, latency percentiles and SLO attainment per window.",
            "",
            [
                new("address", "<url> gateway gRPC address, e.g. http://127.0.0.1:5000 (required)"),
                new("api-key", "<key> API key (or MOECLOUD_API_KEY)"),
                new("model", $"<name> model (default {RuntimeCommands.DemoModel})"),
                new("pattern", "<shape> constant, step (rate, peak, rate … each for --period), ramp (rate to peak over --period) or sine (rate to peak and back each --period) (default constant)"),
                new("rate", "<req/s> the base rate (required)"),
                new("peak", "<req/s> the peak rate of step, ramp and sine (required for them, at least --rate)"),
                new("period", "<s> step: each level's length (default a third of the run); ramp: the rise (default the run); sine: one cycle (default the run)"),
                new("duration", "<s> the run's length (required)"),
                new("tokens", "<N> tokens per request, each a full-stack step (default 16)"),
                new("slo-ms", "<ms> latency target of SLO attainment (default 100)"),
                new("window", "<s> window of the per-window figures (default 5)"),
                new("concurrency", "<N> most requests in flight; one due beyond that is dropped and counted (default 256)"),
                new("seed", "<N> seed of the random inputs (default 1)"),
                new("json", "print one JSON document (windows and totals) instead of tables", IsFlag: true),
            ],
            Run));
    }

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var address = Uri.TryCreate(args.Require("address"), UriKind.Absolute, out var uri) ? uri : throw new UsageException("option '--address' needs an absolute URL such as http://127.0.0.1:5000");
        _ = args.Require("rate");
        _ = args.Require("duration");
        LoadPattern pattern;
        try
        {
            pattern = LoadPattern.Create(
                args.Get("pattern") ?? "constant",
                args.GetDouble("rate", 0),
                args.Has("peak") ? args.GetDouble("peak", 0) : null,
                args.Has("period") ? args.GetDouble("period", 0) : null,
                args.GetDouble("duration", 0));
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }

        var options = new LoadOptions
        {
            Model = args.Get("model") ?? RuntimeCommands.DemoModel,
            Tokens = args.GetInt("tokens", 16, 1, 65536),
            SloMs = args.GetDouble("slo-ms", 100, 1e-3, 3_600_000),
            WindowSeconds = args.GetDouble("window", 5, 0.1, 3600),
            MaxConcurrency = args.GetInt("concurrency", 256, 1, 100_000),
            Seed = args.GetInt("seed", 1),
        };
        using var client = new MoeCloudClient(address, new MoeCloudClientOptions { ApiKey = args.Get("api-key") ?? Environment.GetEnvironmentVariable("MOECLOUD_API_KEY"), MaxAttempts = 1 });
        var report = await CliProgress.RunAsync(
            console,
            $"load: {pattern} ({pattern.Requests} requests of {options.Tokens} tokens, SLO {CliOutput.Num(options.SloMs, 1)} ms) against {address}",
            bar => LoadGenerator.RunAsync(client, pattern, options, new InlineProgress<LoadProgress>(p => bar.Advance(p.ElapsedSeconds, p.DurationSeconds,
                $"  {CliOutput.Num(p.ElapsedSeconds, 0)}/{CliOutput.Num(p.DurationSeconds, 0)} s  sent {p.Sent}  served {p.Served}  failed {p.Failed}  dropped {p.Dropped}  in flight {p.InFlight}  p99 {(p.RecentP99Ms is { } ms ? CliOutput.Num(ms, 1) + " ms" : "-")}")), ct));
        if (args.Json)
        {
            await CliOutput.WriteJsonAsync(console.Out, Json(report));
            return report.Totals.All.Failed > 0 ? Moectl.Failed : Moectl.Ok;
        }

        await console.Out.WriteLineAsync(CliOutput.Table(
            ["window s", "requests", "served", "failed", "dropped", "req/s", "tokens/s", "p50 ms", "p95 ms", "p99 ms", "within SLO", "p99 ≤ SLO"],
            report.Windows.Select(w => Row($"{CliOutput.Num(w.StartSeconds, 1)}-{CliOutput.Num(w.EndSeconds, 1)}", w))));
        await console.Out.WriteLineAsync();
        var t = report.Totals;
        await console.Out.WriteLineAsync(CliOutput.Table(
            ["total", "requests", "served", "failed", "dropped", "req/s", "tokens/s", "p50 ms", "p95 ms", "p99 ms", "within SLO", "p99 ≤ SLO"],
            [Row(CliOutput.Num(pattern.DurationSeconds, 1) + " s", t.All)]));
        await console.Out.WriteLineAsync($"SLO {CliOutput.Num(report.SloMs, 1)} ms: {Share(t.All.SloAttainment)} of requests within it; {Share(t.WindowSloAttainment)} of {report.Windows.Count} windows with p99 within it; {t.Late} requests sent more than {CliOutput.Num(LoadReport.LateAfterMs, 0)} ms late.");
        return t.All.Failed > 0 ? Moectl.Failed : Moectl.Ok;
    }

    /// <summary>The JSON document of <c>--json</c>: the load, each window and the totals.</summary>
    internal static object Json(LoadReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var p = report.Pattern;
        var t = report.Totals;
        return new
        {
            pattern = p.Shape.ToString().ToLowerInvariant(),
            rate = p.Rate,
            peak = p.Peak,
            periodSeconds = p.PeriodSeconds,
            durationSeconds = p.DurationSeconds,
            tokens = report.Tokens,
            sloMs = report.SloMs,
            windowSeconds = report.WindowSeconds,
            windows = report.Windows,
            totals = new
            {
                requests = t.All.Requests,
                served = t.All.Served,
                failed = t.All.Failed,
                dropped = t.All.Dropped,
                late = t.Late,
                requestsPerSecond = t.All.RequestsPerSecond,
                tokensPerSecond = t.All.TokensPerSecond,
                p50Ms = t.All.P50Ms,
                p95Ms = t.All.P95Ms,
                p99Ms = t.All.P99Ms,
                sloAttainment = t.All.SloAttainment,
                windowSloAttainment = t.WindowSloAttainment,
            },
        };
    }

    private static string[] Row(string label, LoadWindow w) =>
    [
        label, w.Requests.ToString(CultureInfo.InvariantCulture), w.Served.ToString(CultureInfo.InvariantCulture), w.Failed.ToString(CultureInfo.InvariantCulture), w.Dropped.ToString(CultureInfo.InvariantCulture),
        CliOutput.Num(w.RequestsPerSecond, 1), CliOutput.Num(w.TokensPerSecond, 0), Ms(w.P50Ms), Ms(w.P95Ms), Ms(w.P99Ms), Share(w.SloAttainment), w.WithinSlo switch { true => "yes", false => "no", null => "-" },
    ];

    private static string Ms(double? ms) => ms is { } v ? CliOutput.Num(v, 1) : "-";

    private static string Share(double? share) => share is { } v ? CliOutput.Num(v * 100, 1) + "%" : "-";

    /// <summary>An <see cref="IProgress{T}"/> that calls its handler at once, on the reporting thread.</summary>
    internal sealed class InlineProgress<T>(Action<T> handler) : IProgress<T>
    {
        public void Report(T value) => handler(value);
    }
}
