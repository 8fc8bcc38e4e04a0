using System.Security.Cryptography;
using System.Text;

namespace MoeCloud.Contracts.Security;

/// <summary>
/// The one definition of how an API key is stored: the SHA-256 of its UTF-8 bytes, written as 64 lower-case hex
/// digits. The gateway compares presented keys against these hashes; the operator and <c>moectl kube keys</c> write
/// them; nothing stores the key itself where the gateway reads it.
/// </summary>
public static class ApiKeyHash
{
    /// <summary>Length of a hash in hex digits.</summary>
    public const int HexLength = 64;

    /// <summary>Random bytes in a key that <see cref="NewKey"/> makes (256 bits).</summary>
    public const int KeyBytes = 32;

    /// <summary>The SHA-256 of <paramref name="key"/>'s UTF-8 bytes (32 bytes).</summary>
    public static byte[] Of(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return SHA256.HashData(Encoding.UTF8.GetBytes(key));
    }

    /// <summary>The stored form of <paramref name="key"/>'s hash: 64 lower-case hex digits.</summary>
    public static string Hex(string key) => Convert.ToHexStringLower(Of(key));

    /// <summary>Whether <paramref name="value"/> is a stored hash: exactly 64 hex digits.</summary>
    public static bool IsHex(string? value) => value is { Length: HexLength } && value.All(Uri.IsHexDigit);

    /// <summary>
    /// A new key from the operating system's cryptographic random generator: <see cref="KeyBytes"/> bytes written as
    /// unpadded base64url (43 characters: letters, digits, <c>-</c> and <c>_</c>, safe in headers and shells).
    /// </summary>
    public static string NewKey() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyBytes)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
