using Grpc.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Tests.Security;

/// <summary>Per-key token buckets on a fake clock: never more than <c>r·T + burst</c> in any T seconds, never starved.</summary>
public sealed class ApiKeyRateLimitTests
{
    private const string Key = "k";

    [Theory]
    [InlineData(0.5, null, 20.0, 0.0)]
    [InlineData(0.5, 3, 20.0, 7.0)]
    [InlineData(3.0, null, 10.0, 0.0)]
    [InlineData(3.0, 1, 10.0, 2.0)]
    [InlineData(10.0, 5, 5.0, 0.0)]
    [InlineData(7.3, 2, 7.0, 1.5)]
    [InlineData(250.0, null, 4.0, 0.0)]
    [InlineData(250.0, 1, 4.0, 1.0)]
    [InlineData(20_000.0, 100, 0.5, 0.1)]
    public void AuthorizeClient_WhenAskedAsOftenAsPossible_AdmitsAtMostRateTimesWindowPlusBurst_InAnyWindow_AndNoLessThanTheRate(double rate, int? burst, double seconds, double idleSeconds)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var entry = new ApiKeyEntry { Name = "app", Sha256 = ApiKeyAuthenticator.Hash(Key), RequestsPerSecond = rate, Burst = burst };
        var keys = new ApiKeyAuthenticator(Options.Create(new GatewayOptions { ApiKeys = [entry] }), time);
        // Ticks per step: an eighth of a token, rounded up (a client polling in smaller steps than a token's interval).
        var step = (long)Math.Ceiling(TimeSpan.TicksPerSecond / rate / 8);
        var steps = (long)Math.Ceiling(seconds * TimeSpan.TicksPerSecond / step);
        long idleFrom = (long)(seconds * TimeSpan.TicksPerSecond / 3), idleTo = idleFrom + (long)(idleSeconds * TimeSpan.TicksPerSecond);
        var admitted = new List<long>(); // elapsed ticks at each admission

        // A greedy client: at every step it sends until refused, except while idle (the bucket refills, up to its size).
        for (var s = 0L; s <= steps; s++)
        {
            var elapsed = s * step;
            while ((elapsed < idleFrom || elapsed >= idleTo) && TryAuthorize(keys))
            {
                admitted.Add(elapsed);
            }

            time.Advance(TimeSpan.FromTicks(step));
        }

        var window = (double)steps * step / TimeSpan.TicksPerSecond;
        var bucket = burst ?? Math.Max(1, (int)Math.Ceiling(rate * 2));
        Assert.True(admitted.Count <= (rate * window) + bucket, $"{admitted.Count} admitted over {window} s at {rate}/s with burst {bucket}");
        Assert.True(admitted.Count >= (rate * (window - idleSeconds)) - 1, $"only {admitted.Count} admitted over {window} s ({idleSeconds} s idle) at {rate}/s");
        // Every window [admission i, admission j] holds at most rate·(t_j − t_i) + burst admissions.
        for (var j = 0; j < admitted.Count; j++)
        {
            for (var i = 0; i < j; i++)
            {
                var allowed = (rate * (admitted[j] - admitted[i]) / TimeSpan.TicksPerSecond) + bucket;
                if (j - i + 1 > allowed + 1e-9)
                {
                    Assert.Fail($"{j - i + 1} admissions within {(admitted[j] - admitted[i]) / (double)TimeSpan.TicksPerSecond} s at {rate}/s with burst {bucket}");
                }
            }
        }
    }

    [Fact]
    public void AuthorizeClient_WhenTheBucketIsEmpty_RefusesWithResourceExhaustedNamingTheRate()
    {
        var time = new FakeTimeProvider();
        var entry = new ApiKeyEntry { Name = "app", Sha256 = ApiKeyAuthenticator.Hash(Key), RequestsPerSecond = 0.5, Burst = 1 };
        var keys = new ApiKeyAuthenticator(Options.Create(new GatewayOptions { ApiKeys = [entry] }), time);

        keys.AuthorizeClient(Key);
        var refused = Assert.Throws<GatewayException>(() => keys.AuthorizeClient(Key));
        time.Advance(TimeSpan.FromSeconds(1.999));
        Assert.Throws<GatewayException>(() => keys.AuthorizeClient(Key));
        time.Advance(TimeSpan.FromMilliseconds(1));
        keys.AuthorizeClient(Key);

        Assert.Equal(StatusCode.ResourceExhausted, refused.Code);
        Assert.Contains("'app'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("0.5 requests/s", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WhenTheRateOrBurstIsOutOfRange_SaysSo()
    {
        var options = new GatewayOptions
        {
            Models = { ["m"] = "/models/m" },
            ApiKeys =
            [
                new ApiKeyEntry { Name = "nan", Sha256 = ApiKeyAuthenticator.Hash("a"), RequestsPerSecond = double.NaN },
                new ApiKeyEntry { Name = "zero-burst", Sha256 = ApiKeyAuthenticator.Hash("b"), Burst = 0 },
            ],
        };

        var failures = new GatewayOptionsValidator().Validate(null, options).Failures!.ToArray();

        Assert.Contains(failures, f => f.Contains("'nan' needs RequestsPerSecond", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'zero-burst' needs Burst", StringComparison.Ordinal));
    }

    private static bool TryAuthorize(ApiKeyAuthenticator keys)
    {
        try
        {
            keys.AuthorizeClient(Key);
            return true;
        }
        catch (GatewayException e) when (e.Code == StatusCode.ResourceExhausted)
        {
            return false;
        }
    }
}
