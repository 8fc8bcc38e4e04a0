using System.Security.Cryptography;
using System.Text;

namespace MoeCloud.Contracts.Security;

/// <summary>
/// API keys as MoeCloud configures and checks them, in one place for the gateway's APIs and the silo's ops endpoints:
/// a key is presented as <c>x-api-key</c> or <c>Authorization: Bearer</c> (a browser may use HTTP Basic, the key as
/// the password), and matched by its SHA-256 in constant time against configured hashes (keys themselves are never
/// stored).
/// </summary>
public static class ApiKeys
{
    /// <summary>The header (and gRPC metadata) name of the key.</summary>
    public const string Header = "x-api-key";

    /// <summary>Length of a stored hash in hex digits.</summary>
    public const int HashLength = 64;

    /// <summary>Random bytes in a key that <see cref="NewKey"/> makes (256 bits).</summary>
    public const int KeyBytes = 32;

    /// <summary>The SHA-256 of <paramref name="key"/>'s UTF-8 bytes (32 bytes).</summary>
    public static byte[] Of(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key ?? ""));

    /// <summary>
    /// The stored form of a key: the SHA-256 of its UTF-8 bytes as 64 lower-case hex digits. The gateway and the silo
    /// compare presented keys against these; the operator and <c>moectl kube keys</c> write them; nothing stores the key
    /// itself where they read it.
    /// </summary>
    public static string Hash(string key) => Convert.ToHexStringLower(Of(key));

    /// <summary>Whether <paramref name="sha256"/> is a SHA-256 in hex (64 hex digits).</summary>
    public static bool IsHash(string? sha256) => sha256 is { Length: HashLength } && sha256.All(char.IsAsciiHexDigit);

    /// <summary>
    /// A new key from the operating system's cryptographic random generator: <see cref="KeyBytes"/> bytes written as
    /// unpadded base64url (43 characters: letters, digits, <c>-</c> and <c>_</c>, safe in headers and shells).
    /// </summary>
    public static string NewKey() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The bytes of a configured hash; throws <see cref="FormatException"/> unless it is 64 hex digits.</summary>
    public static byte[] Digest(string sha256) =>
        IsHash(sha256) ? Convert.FromHexString(sha256) : throw new FormatException("An API key hash must be a SHA-256 of 64 hex digits.");

    /// <summary>Reads the key from a header value pair (<c>x-api-key</c>, or <c>Authorization: Bearer …</c>); null when neither carries one.</summary>
    public static string? Read(string? apiKey, string? authorization) =>
        !string.IsNullOrEmpty(apiKey) ? apiKey
        : authorization is { } a && a.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? a["Bearer ".Length..].Trim()
        : null;

    /// <summary>
    /// The password of an <c>Authorization: Basic …</c> header (the user name is ignored), which is how a browser sends
    /// a key to a page it cannot add headers to; null for any other header or a malformed one.
    /// </summary>
    public static string? ReadBasic(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var decoded = new byte[authorization.Length];
        if (!Convert.TryFromBase64String(authorization["Basic ".Length..].Trim(), decoded, out var written))
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(decoded, 0, written);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 || colon == text.Length - 1 ? null : text[(colon + 1)..];
    }

    /// <summary>
    /// The index in <paramref name="hashes"/> of the hash of <paramref name="key"/>, or -1 (also for a null key). Every
    /// hash is compared, each in constant time, so the time taken does not tell which one matched.
    /// </summary>
    public static int Match(IReadOnlyList<byte[]> hashes, string? key) => Match(hashes, h => h, key);

    /// <summary>As <see cref="Match(IReadOnlyList{byte[]}, string?)"/>, over entries whose hash <paramref name="hashOf"/> gives.</summary>
    public static int Match<T>(IReadOnlyList<T> entries, Func<T, byte[]> hashOf, string? key)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(hashOf);
        if (key is null)
        {
            return -1;
        }

        var hash = Of(key);
        var found = -1;
        for (var i = 0; i < entries.Count; i++)
        {
            if (CryptographicOperations.FixedTimeEquals(hashOf(entries[i]), hash))
            {
                found = i;
            }
        }

        return found;
    }
}
