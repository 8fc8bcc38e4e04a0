using Grpc.Core;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;
using MoeCloud.Gateway.Security;

namespace MoeCloud.Gateway.Tests.Security;

/// <summary>The data API fails closed: keys, or anonymous access configured on purpose.</summary>
public sealed class AnonymousAccessTests
{
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
