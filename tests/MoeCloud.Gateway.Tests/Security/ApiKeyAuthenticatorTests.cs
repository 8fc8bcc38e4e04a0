using Grpc.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Tests.Security;

/// <summary>
/// API keys: per-key token buckets on a fake clock (never more than <c>r·T + burst</c> in any T seconds, never starved),
/// and a data API that fails closed (keys, or anonymous access configured on purpose).
/// </summary>
public sealed class ApiKeyAuthenticatorTests
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

    // The data API fails closed: keys, or anonymous access configured on purpose.
    [Fact]
    public void Validate_WithoutClientKeysOrAllowAnonymous_FailsSayingHowToSetKeys()
    {
        var adminOnly = new GatewayOptions { Models = { ["m"] = "/models/m" }, AdminKeys = [new ApiKeyEntry { Name = "admin", Sha256 = ApiKeyAuthenticator.Hash("a") }] };

        var failures = new GatewayOptionsValidator().Validate(null, adminOnly).Failures!.ToArray();

        var failure = Assert.Single(failures);
        Assert.Contains("MoeCloud:Gateway:ApiKeys", failure, StringComparison.Ordinal);
        Assert.Contains("MoeCloud__Gateway__ApiKeys__0__Sha256", failure, StringComparison.Ordinal);
        Assert.Contains("moectl gateway --config", failure, StringComparison.Ordinal);
        Assert.Contains("moectl up", failure, StringComparison.Ordinal);
        Assert.Contains("MoeCloud:Gateway:AllowAnonymous=true", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_WithAllowAnonymousAndNoKeys_Succeeds()
    {
        var anonymous = new GatewayOptions { Models = { ["m"] = "/models/m" }, AllowAnonymous = true };

        Assert.True(new GatewayOptionsValidator().Validate(null, anonymous).Succeeded);
    }

    [Fact]
    public void AuthorizeClient_WhenKeysExist_RefusesARequestWithoutAKeyOrWithABadOne()
    {
        var keys = Authenticator(new GatewayOptions { ApiKeys = [new ApiKeyEntry { Name = "app", Sha256 = ApiKeyAuthenticator.Hash("good") }] });

        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<GatewayException>(() => keys.AuthorizeClient(null)).Code);
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<GatewayException>(() => keys.AuthorizeClient("bad")).Code);
        keys.AuthorizeClient("good");
    }

    [Fact]
    public void AuthorizeClient_WithNoClientKeysAndAnonymousNotAllowed_RefusesARequestWithoutAKey()
    {
        // Options that bypassed validation still fail closed.
        var keys = Authenticator(new GatewayOptions());

        Assert.True(keys.ClientKeysRequired);
        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<GatewayException>(() => keys.AuthorizeClient(null)).Code);
    }

    [Fact]
    public void AuthorizeClient_WhenAnonymousIsAllowed_ServesRequestsWithoutAKey_ButNotABadKey_NorTheAdminApi()
    {
        var keys = Authenticator(new GatewayOptions { AllowAnonymous = true, ApiKeys = [new ApiKeyEntry { Name = "app", Sha256 = ApiKeyAuthenticator.Hash("good"), RequestsPerSecond = 1, Burst = 1 }] });

        Assert.False(keys.ClientKeysRequired);
        for (var i = 0; i < 5; i++)
        {
            keys.AuthorizeClient(null); // no rate limit without a key
        }

        Assert.Equal(StatusCode.Unauthenticated, Assert.Throws<GatewayException>(() => keys.AuthorizeClient("bad")).Code);
        Assert.Throws<GatewayException>(() => keys.AuthorizeAdmin(null));
    }

    private static ApiKeyAuthenticator Authenticator(GatewayOptions options) => new(Options.Create(options), new FakeTimeProvider());
}
