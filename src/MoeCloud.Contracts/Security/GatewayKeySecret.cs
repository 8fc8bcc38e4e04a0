using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MoeCloud.Contracts.Security;

/// <summary>One key entry of a gateway keys Secret (hash only; the key is never stored).</summary>
/// <param name="Index">The entry's segment in the variable names (<c>MoeCloud__Gateway__ApiKeys__&lt;index&gt;__…</c>).</param>
/// <param name="Name">The key's name (<c>…__Name</c>), what <c>keys list</c> shows and <c>keys rotate</c> selects.</param>
/// <param name="Sha256">Its hash (<c>…__Sha256</c>, <see cref="ApiKeys.Hash"/>).</param>
/// <param name="Created">When it was made, from the Secret's annotation <see cref="GatewayKeySecret.CreatedAnnotation"/>; null for entries written by hand.</param>
public sealed record GatewayKeyEntry(string Index, string Name, string Sha256, DateTimeOffset? Created);

/// <summary>
/// The layout of a Secret whose entries become the gateway's environment through <c>envFrom</c>: client keys as
/// <c>MoeCloud__Gateway__ApiKeys__&lt;index&gt;__{Name,Sha256[,RequestsPerSecond,Burst]}</c> and admin keys as
/// <c>MoeCloud__Gateway__AdminKeys__&lt;index&gt;__{Name,Sha256}</c>, which the gateway binds to its
/// <c>ApiKeys</c>/<c>AdminKeys</c> options. Creation times are kept in annotations, out of the gateway's configuration.
/// Data is handled as decoded strings; callers convert the Secret's bytes at the edge.
/// </summary>
public static partial class GatewayKeySecret
{
    /// <summary>Prefix of client key entries.</summary>
    public const string ClientPrefix = "MoeCloud__Gateway__ApiKeys__";

    /// <summary>Prefix of admin key entries.</summary>
    public const string AdminPrefix = "MoeCloud__Gateway__AdminKeys__";

    /// <summary>The annotation that records when the entry at <paramref name="index"/> was made (round-trip ISO 8601).</summary>
    public static string CreatedAnnotation(string index) => "moecloud.io/key-created-" + index;

    /// <summary>
    /// The entries under <paramref name="prefix"/>, ordered by index (numerically where numeric). Throws
    /// <see cref="FormatException"/> naming the entry when one has no name, no hash, or a hash that is not 64 hex digits.
    /// </summary>
    public static IReadOnlyList<GatewayKeyEntry> Read(IReadOnlyDictionary<string, string> data, string prefix, IReadOnlyDictionary<string, string>? annotations = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        var entries = new List<GatewayKeyEntry>();
        foreach (var index in Indices(data, prefix))
        {
            var name = data.GetValueOrDefault(prefix + index + "__Name");
            var hash = data.GetValueOrDefault(prefix + index + "__Sha256");
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new FormatException($"Entry {prefix}{index} has no {prefix}{index}__Name.");
            }

            if (!ApiKeys.IsHash(hash))
            {
                throw new FormatException($"Entry {prefix}{index} ('{name}') needs {prefix}{index}__Sha256 as the 64-digit hex SHA-256 of the key.");
            }

            DateTimeOffset? created = annotations?.TryGetValue(CreatedAnnotation(index), out var stamp) == true
                && DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var at) ? at : null;
            entries.Add(new GatewayKeyEntry(index, name, hash!.ToLowerInvariant(), created));
        }

        return entries;
    }

    /// <summary>
    /// Writes the entry's name and hash at <paramref name="index"/>, replacing those two fields and keeping others
    /// (such as a rate limit).
    /// </summary>
    public static void Write(IDictionary<string, string> data, string prefix, string index, string name, string sha256)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        if (!IndexPattern().IsMatch(index ?? ""))
        {
            throw new ArgumentException($"A key index is letters and digits, 1 to 40 of them (got '{index}').", nameof(index));
        }

        if (!ApiKeys.IsHash(sha256))
        {
            throw new ArgumentException("A key hash is 64 hex digits.", nameof(sha256));
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        data[prefix + index + "__Name"] = name;
        data[prefix + index + "__Sha256"] = sha256;
    }

    /// <summary>Records in <paramref name="annotations"/> that the entry at <paramref name="index"/> was made at <paramref name="created"/>.</summary>
    public static void MarkCreated(IDictionary<string, string> annotations, string index, DateTimeOffset created)
    {
        ArgumentNullException.ThrowIfNull(annotations);
        annotations[CreatedAnnotation(index)] = created.ToString("O", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The pod-template annotation on the gateway Deployment with <see cref="Fingerprint"/> of its keys Secret: the
    /// gateway reads the Secret through <c>envFrom</c>, which is fixed when a pod starts, so a changed Secret changes the
    /// template and the Deployment rolls its pods. The operator sets it at every reconcile, and
    /// <c>moectl kube keys</c> sets the same value at once after a change (so the operator's next write rolls nothing more).
    /// </summary>
    public const string HashAnnotation = "moecloud.io/keys-hash";

    /// <summary>
    /// A fingerprint of a keys Secret's entries (all of them: names, hashes, limits), the first 16 hex digits of the
    /// SHA-256 of the entries in ordinal key order. It reveals nothing of the keys (their hashes are hashed again), and
    /// it changes with any entry, which is what the gateway's environment is made of.
    /// </summary>
    public static string Fingerprint(IReadOnlyDictionary<string, string> data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var text = new StringBuilder();
        foreach (var (key, value) in data.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // Lengths first, so that no two different sets of entries run together into the same text.
            text.Append(CultureInfo.InvariantCulture, $"{key.Length}:{key}={value.Length}:{value}\n");
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    /// <summary>The lowest numeric index not yet used under <paramref name="prefix"/> (a new entry's index).</summary>
    public static string NextIndex(IReadOnlyDictionary<string, string> data, string prefix)
    {
        ArgumentNullException.ThrowIfNull(data);
        var used = Indices(data, prefix).ToHashSet(StringComparer.Ordinal);
        var next = 0;
        while (used.Contains(next.ToString(CultureInfo.InvariantCulture)))
        {
            next++;
        }

        return next.ToString(CultureInfo.InvariantCulture);
    }

    private static IEnumerable<string> Indices(IReadOnlyDictionary<string, string> data, string prefix) =>
        data.Keys
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(k => k[prefix.Length..])
            .Select(rest => rest.IndexOf("__", StringComparison.Ordinal) is var end and > 0 ? rest[..end] : rest)
            .Distinct(StringComparer.Ordinal)
            .OrderBy(i => int.TryParse(i, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue)
            .ThenBy(i => i, StringComparer.Ordinal);

    [GeneratedRegex("^[A-Za-z0-9]{1,40}$")]
    private static partial Regex IndexPattern();
}
