using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Grpc.Core;
using Microsoft.Extensions.Options;
using MoeCloud.Gateway.Forwarding;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Gateway.Security;

/// <summary>
/// API keys: presented as <c>x-api-key</c> or <c>Authorization: Bearer</c>, compared by SHA-256 in constant time
/// against the configured hashes (keys themselves are never stored). Client and admin keys are separate sets. Each key
/// has a token-bucket rate limit. With no client keys configured the data API is open (local use).
/// </summary>
public sealed class ApiKeyAuthenticator : IDisposable
{
    /// <summary>The metadata / header name of the key.</summary>
    public const string Header = "x-api-key";

    private readonly (byte[] Hash, ApiKeyEntry Entry)[] _clients;
    private readonly (byte[] Hash, ApiKeyEntry Entry)[] _admins;
    private readonly PartitionedRateLimiter<ApiKeyEntry> _limiter;

    /// <summary>Loads the hashes from the options.</summary>
    public ApiKeyAuthenticator(IOptions<GatewayOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _clients = options.Value.ApiKeys.Select(k => (Convert.FromHexString(k.Sha256), k)).ToArray();
        _admins = options.Value.AdminKeys.Select(k => (Convert.FromHexString(k.Sha256), k)).ToArray();
        _limiter = PartitionedRateLimiter.Create<ApiKeyEntry, string>(key => RateLimitPartition.GetTokenBucketLimiter(key.Name, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, (int)Math.Ceiling(key.RequestsPerSecond * 2)),
            TokensPerPeriod = Math.Max(1, (int)Math.Ceiling(key.RequestsPerSecond / 10)),
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Whether the data API needs a key.</summary>
    public bool ClientKeysRequired => _clients.Length > 0;

    /// <summary>The SHA-256 (lower-case hex) of a key, as configuration stores it.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key ?? "")));

    /// <summary>Reads the key from a header value pair (<c>x-api-key</c>, or <c>Authorization: Bearer …</c>).</summary>
    public static string? Read(string? apiKey, string? authorization) =>
        !string.IsNullOrEmpty(apiKey) ? apiKey
        : authorization is { } a && a.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? a["Bearer ".Length..].Trim()
        : null;

    /// <summary>Checks a data-API key and takes one request from its rate limit; throws <see cref="GatewayException"/>.</summary>
    public void AuthorizeClient(string? key)
    {
        if (!ClientKeysRequired)
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

    /// <inheritdoc />
    public void Dispose() => _limiter.Dispose();

    private static ApiKeyEntry? Match((byte[] Hash, ApiKeyEntry Entry)[] keys, string? key)
    {
        if (key is null)
        {
            return null;
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        ApiKeyEntry? found = null;
        foreach (var (candidate, entry) in keys)
        {
            if (CryptographicOperations.FixedTimeEquals(candidate, hash))
            {
                found = entry;
            }
        }

        return found;
    }

    private void Limit(ApiKeyEntry entry)
    {
        using var lease = _limiter.AttemptAcquire(entry);
        if (!lease.IsAcquired)
        {
            throw new GatewayException(StatusCode.ResourceExhausted, $"Rate limit of key '{entry.Name}' exceeded ({entry.RequestsPerSecond} requests/s).");
        }
    }
}
