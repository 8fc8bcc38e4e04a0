using System.Diagnostics;
using MoeCloud.Cli.Commands;
using MoeCloud.Client;

namespace MoeCloud.Cli.Load;

/// <summary>Options of a load run.</summary>
public sealed record LoadOptions
{
    /// <summary>The model to load. Default <c>demo</c> (the model of <c>moectl up</c>).</summary>
    public string Model { get; init; } = RuntimeCommands.DemoModel;

    /// <summary>Tokens per request (each a full-stack step), in [1, 65536]. Default 16.</summary>
    public int Tokens { get; init; } = 16;

    /// <summary>Most requests in flight; a request due while this many are unanswered is dropped (and counted). Default 256.</summary>
    public int MaxConcurrency { get; init; } = 256;

    /// <summary>Latency target (ms) of SLO attainment. Default 100.</summary>
    public double SloMs { get; init; } = 100;

    /// <summary>Window of the per-window figures (s). Default 5.</summary>
    public double WindowSeconds { get; init; } = 5;

    /// <summary>Seed of the random hidden states (a few distinct inputs, sent in turn). Default 1.</summary>
    public int Seed { get; init; } = 1;
}

/// <summary>Where a load run is, reported about once a second.</summary>
/// <param name="ElapsedSeconds">Seconds into the run.</param>
/// <param name="DurationSeconds">The run's length.</param>
/// <param name="Sent">Requests sent so far.</param>
/// <param name="Served">Answered.</param>
/// <param name="Failed">Failed.</param>
/// <param name="Dropped">Dropped at the concurrency cap.</param>
/// <param name="InFlight">Unanswered now.</param>
/// <param name="RecentP99Ms">p99 of the requests answered since the last report; null when none.</param>
public sealed record LoadProgress(double ElapsedSeconds, double DurationSeconds, long Sent, long Served, long Failed, long Dropped, int InFlight, double? RecentP99Ms);

/// <summary>
/// An open-loop load generator: sends full-stack request steps through the client library at the arrival times of a
/// <see cref="LoadPattern"/>, whatever the replies (a slow cluster does not slow the load down, as closed-loop
/// generators do), with at most <see cref="LoadOptions.MaxConcurrency"/> in flight: a request due beyond that is
/// dropped and counted. Latency is measured from each request's arrival time, so a late send (the generator fell
/// behind) counts against the cluster rather than hiding it. After the last arrival it waits for every answer and
/// builds the <see cref="LoadReport"/>.
/// </summary>
public static class LoadGenerator
{
    private const int Inputs = 8;

    /// <summary>Runs <paramref name="pattern"/> against the gateway <paramref name="client"/> talks to.</summary>
    public static async Task<LoadReport> RunAsync(MoeCloudClient client, LoadPattern pattern, LoadOptions options, IProgress<LoadProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Tokens is < 1 or > 65536 || options.MaxConcurrency is < 1 or > 100_000 || !(options.SloMs > 0) || !(options.WindowSeconds > 0))
        {
            throw new ArgumentException($"Tokens must be in [1, 65536], MaxConcurrency in [1, 100000], SloMs and WindowSeconds positive (got {options.Tokens}, {options.MaxConcurrency}, {options.SloMs}, {options.WindowSeconds}).", nameof(options));
        }

        var info = await client.GetModelAsync(options.Model, cancellationToken);
        var inputs = Enumerable.Range(0, Inputs).Select(i => RuntimeCommands.RandomHidden(options.Tokens, info.Hidden, options.Seed + i)).ToArray();
        var samples = new List<LoadSample>((int)Math.Min(pattern.Requests, 1 << 20));
        var recent = new List<double>();
        var gate = new Lock();
        var pending = new List<Task>();
        int inFlight = 0;
        long sent = 0, served = 0, failed = 0, dropped = 0, late = 0;
        var start = Stopwatch.GetTimestamp();

        void Record(LoadSample sample)
        {
            lock (gate)
            {
                samples.Add(sample);
                if (sample.LatencyMs is { } ms)
                {
                    recent.Add(ms);
                }
            }
        }

        async Task Send(double arrival, long index)
        {
            try
            {
                await client.ForwardAsync(options.Model, inputs[index % Inputs], options.Tokens, info.Hidden, 0, info.MoeLayers - 1, cancellationToken: cancellationToken);
                Interlocked.Increment(ref served);
                Record(new LoadSample(arrival, Stopwatch.GetElapsedTime(start).TotalMilliseconds - (arrival * 1000), LoadOutcome.Served));
            }
            catch (Exception e) when (e is Grpc.Core.RpcException or HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref failed);
                Record(new LoadSample(arrival, null, LoadOutcome.Failed));
            }
            finally
            {
                Interlocked.Decrement(ref inFlight);
            }
        }

        void Report(double elapsed)
        {
            double? p99;
            lock (gate)
            {
                recent.Sort();
                p99 = LoadReport.Percentile(recent, 0.99);
                recent.Clear();
            }

            progress?.Report(new LoadProgress(elapsed, pattern.DurationSeconds, Interlocked.Read(ref sent), Interlocked.Read(ref served), Interlocked.Read(ref failed), Interlocked.Read(ref dropped), Volatile.Read(ref inFlight), p99));
        }

        var nextReport = 1.0;
        long i = 0;
        foreach (var arrival in pattern.Arrivals())
        {
            double now;
            while (true)
            {
                now = Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (now >= nextReport)
                {
                    Report(nextReport);
                    nextReport += 1;
                    continue;
                }

                if (now >= arrival)
                {
                    break;
                }

                // Sleep until the arrival or the next progress report, whichever is first; spin the last millisecond.
                var sleep = Math.Min(arrival, nextReport) - now;
                if (sleep >= 0.001)
                {
                    await Task.Delay(TimeSpan.FromSeconds(sleep), cancellationToken);
                }
                else
                {
                    await Task.Yield();
                }
            }

            if ((now - arrival) * 1000 > LoadReport.LateAfterMs)
            {
                late++;
            }

            if (Volatile.Read(ref inFlight) >= options.MaxConcurrency)
            {
                dropped++;
                Record(new LoadSample(arrival, null, LoadOutcome.Dropped));
            }
            else
            {
                Interlocked.Increment(ref inFlight);
                Interlocked.Increment(ref sent);
                pending.Add(Send(arrival, i));
            }

            i++;
            if (pending.Count >= 4096)
            {
                pending.RemoveAll(t => t.IsCompleted);
            }
        }

        await Task.WhenAll(pending);
        Report(Stopwatch.GetElapsedTime(start).TotalSeconds);
        lock (gate)
        {
            samples.Sort((a, b) => a.ArrivalSeconds.CompareTo(b.ArrivalSeconds));
            return LoadReport.Build(pattern, samples, options.Tokens, options.SloMs, options.WindowSeconds, late);
        }
    }
}
