using System.Globalization;
using Grpc.Core;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Security;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Gateway.Security;

/// <summary>
/// API keys: presented as <c>x-api-key</c> or <c>Authorization: Bearer</c>, compared by SHA-256 in constant time
/// against the configured hashes (keys themselves are never stored; <see cref="ApiKeys"/>, which the silo's ops
/// endpoints use too). Client and admin keys are separate sets. Each key
/// has its own token bucket (<see cref="ApiKeyEntry.RequestsPerSecond"/>, <see cref="ApiKeyEntry.Burst"/>) on the
/// injected clock. The data API needs a key unless <see cref="GatewayOptions.AllowAnonymous"/> is set; then a request
/// without a key is served without a limit, and a request that presents a key must present a valid one.
/// </summary>
public sealed class ApiKeyAuthenticator
{
    /// <summary>The metadata / header name of the key.</summary>
    public const string Header = ApiKeys.Header;

    private readonly ConfiguredKey[] _clients;
    private readonly ConfiguredKey[] _admins;
    private readonly bool _allowAnonymous;

    /// <summary>Loads the hashes from the options; rate limits are measured on <paramref name="time"/>.</summary>
    public ApiKeyAuthenticator(IOptions<GatewayOptions> options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _clients = options.Value.ApiKeys.Select(k => ConfiguredKey.Of(k, time)).ToArray();
        _admins = options.Value.AdminKeys.Select(k => ConfiguredKey.Of(k, time)).ToArray();
        _allowAnonymous = options.Value.AllowAnonymous;
    }

    /// <summary>Whether the data API needs a key (false only with <see cref="GatewayOptions.AllowAnonymous"/>).</summary>
    public bool ClientKeysRequired => !_allowAnonymous;

    /// <summary>The SHA-256 (lower-case hex) of a key, as configuration stores it.</summary>
    public static string Hash(string key) => ApiKeys.Hash(key);

    /// <summary>Reads the key from a header value pair (<c>x-api-key</c>, or <c>Authorization: Bearer …</c>).</summary>
    public static string? Read(string? apiKey, string? authorization) => ApiKeys.Read(apiKey, authorization);

    /// <summary>Checks a data-API key and takes one request from its rate limit; throws <see cref="GatewayException"/>.</summary>
    public void AuthorizeClient(string? key)
    {
        if (key is null && _allowAnonymous)
        {
            return;
        }

        var entry = Match(_clients, key) ?? Match(_admins, key) ?? throw new GatewayException(StatusCode.Unauthenticated, key is null ? $"An API key is required ({Header} header or Authorization: Bearer)." : "The API key is not valid.");
        Limit(entry);
    }

    /// <summary>Checks an admin key (client keys do not open the admin API); throws <see cref="GatewayException"/>.</summary>
    public void AuthorizeAdmin(string? key)
    {
        if (_admins.Length == 0)
        {
            throw new GatewayException(StatusCode.PermissionDenied, "The admin API is disabled: no admin key is configured.");
        }

        var entry = Match(_admins, key) ?? throw new GatewayException(key is null || Match(_clients, key) is null ? StatusCode.Unauthenticated : StatusCode.PermissionDenied, "The admin API needs an admin key.");
        Limit(entry);
    }

    private static ConfiguredKey? Match(ConfiguredKey[] keys, string? key) =>
        ApiKeys.Match(keys, k => k.Hash, key) is >= 0 and var i ? keys[i] : null;

    private static void Limit(ConfiguredKey key)
    {
        if (!key.Bucket.TryAcquire())
        {
            throw new GatewayException(StatusCode.ResourceExhausted, string.Create(CultureInfo.InvariantCulture, $"Rate limit of key '{key.Entry.Name}' exceeded ({key.Entry.RequestsPerSecond} requests/s, bursts of {key.Entry.EffectiveBurst})."));
        }
    }

    /// <summary>A configured key: its hash, its entry and its own token bucket.</summary>
    private sealed record ConfiguredKey(byte[] Hash, ApiKeyEntry Entry, TokenBucket Bucket)
    {
        public static ConfiguredKey Of(ApiKeyEntry entry, TimeProvider time) =>
            new(ApiKeys.Digest(entry.Sha256), entry, new TokenBucket(entry.RequestsPerSecond, entry.EffectiveBurst, time));
    }
}
