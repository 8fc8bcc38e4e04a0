using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;
using MoeCloud.Contracts.Security;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// The Secrets a deployment's gateway reads its key hashes from, all owned by the MoeDeployment:
/// <list type="bullet">
/// <item><c>&lt;name&gt;-operator-key</c>: the SHA-256 of <see cref="OperatorOptions.AdminApiKey"/> as the admin key
/// <c>operator</c>; kept up to date like every other owned object (none while the operator has no admin key).</item>
/// <item><c>&lt;name&gt;-gateway-keys</c>, unless <see cref="GatewaySpec.KeysSecret"/> names a Secret of your own: the
/// client key hashes. Created once with one generated key (<see cref="ApiKeys.NewKey"/>) and never written again
/// by the operator; <c>moectl kube keys create|rotate</c> edits it.</item>
/// <item><c>&lt;name&gt;-client-key</c>: that generated key itself, under <see cref="ClientKeyEntry"/>, written once for
/// the user to read and delete. It is written before the hash, so a reconcile cut short in between stores the hash of
/// the same key the next time.</item>
/// </list>
/// </summary>
public sealed class GatewayKeys(IKubernetes client, ChildApplier children, IOptions<OperatorOptions> options, TimeProvider time)
{
    /// <summary>The entry of <c>&lt;name&gt;-client-key</c> that holds the key.</summary>
    public const string ClientKeyEntry = "api-key";

    /// <summary>Name of the generated client key and of the operator's admin key entry.</summary>
    public const string DefaultKeyName = "default";

    /// <summary>The admin key entry's index and name in <c>&lt;name&gt;-operator-key</c>.</summary>
    public const string OperatorIndex = "operator";

    /// <summary>
    /// Applies the operator-key Secret and creates the client keys Secret when the operator owns it and it is missing;
    /// returns what the gateway will read: the keys Secret's name and, when it exists, the fingerprint of its entries
    /// (<see cref="GatewayKeySecret.Fingerprint"/>). A Secret named by <see cref="GatewaySpec.KeysSecret"/> that does
    /// not exist is reported as missing (the operator never creates one of the user's).
    /// </summary>
    public async Task<KeysSecretState> EnsureAsync(MoeDeployment d, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(d);
        if (options.Value.AdminApiKey is { Length: > 0 } adminKey)
        {
            await children.ApplyAsync(ChildKind.Secret, OperatorKeySecret(d, adminKey), cancellationToken);
        }

        var ns = d.Metadata.NamespaceProperty;
        var name = Workloads.GatewayKeysName(d);
        if (await children.GetAsync<V1Secret>(ChildKind.Secret, ns, name, cancellationToken) is { } existing)
        {
            return KeysSecretState.Of(name, existing);
        }

        if (!string.IsNullOrEmpty(d.Spec.Gateway.KeysSecret))
        {
            return new KeysSecretState(name, Fingerprint: null);
        }

        var pending = await children.GetAsync<V1Secret>(ChildKind.Secret, ns, Workloads.ClientKeyName(d), cancellationToken);
        string key;
        if (pending?.Data?.TryGetValue(ClientKeyEntry, out var stored) == true && stored.Length > 0)
        {
            key = Encoding.UTF8.GetString(stored);
        }
        else
        {
            key = ApiKeys.NewKey();
            await CreateOnceAsync(ClientKeySecret(d, key), cancellationToken);
        }

        var created = ClientKeysSecret(d, ApiKeys.Hash(key), time.GetUtcNow());
        return KeysSecretState.Of(name, await CreateOnceAsync(created, cancellationToken) ?? created);
    }

    /// <summary>The Secret with the operator's admin key hash, as <c>MoeCloud__Gateway__AdminKeys__operator__{Name,Sha256}</c>.</summary>
    public static V1Secret OperatorKeySecret(MoeDeployment d, string adminKey)
    {
        ArgumentNullException.ThrowIfNull(d);
        var data = new Dictionary<string, string>();
        GatewayKeySecret.Write(data, GatewayKeySecret.AdminPrefix, OperatorIndex, OperatorIndex, ApiKeys.Hash(adminKey));
        return Secret(d, Workloads.OperatorKeyName(d), data, annotations: null);
    }

    /// <summary>The client keys Secret with one key, <see cref="DefaultKeyName"/>, at index 0.</summary>
    public static V1Secret ClientKeysSecret(MoeDeployment d, string sha256, DateTimeOffset created)
    {
        ArgumentNullException.ThrowIfNull(d);
        var data = new Dictionary<string, string>();
        var annotations = new Dictionary<string, string>();
        GatewayKeySecret.Write(data, GatewayKeySecret.ClientPrefix, "0", DefaultKeyName, sha256);
        GatewayKeySecret.MarkCreated(annotations, "0", created);
        return Secret(d, Workloads.GatewayKeysName(d), data, annotations);
    }

    /// <summary>The one-time Secret with the generated client key.</summary>
    public static V1Secret ClientKeySecret(MoeDeployment d, string key)
    {
        ArgumentNullException.ThrowIfNull(d);
        return Secret(d, Workloads.ClientKeyName(d), new Dictionary<string, string> { [ClientKeyEntry] = key }, annotations: null);
    }

    private static V1Secret Secret(MoeDeployment d, string name, Dictionary<string, string> data, Dictionary<string, string>? annotations)
    {
        var meta = Workloads.Meta(d, name, "gateway");
        meta.Annotations = annotations;
        return new V1Secret
        {
            ApiVersion = "v1",
            Kind = "Secret",
            Type = "Opaque",
            Metadata = meta,
            Data = data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value), StringComparer.Ordinal),
        };
    }

    /// <summary>Creates <paramref name="secret"/> unless it exists; returns the one stored now, or null when another reconcile created it first.</summary>
    private async Task<V1Secret?> CreateOnceAsync(V1Secret secret, CancellationToken cancellationToken)
    {
        try
        {
            await client.CoreV1.CreateNamespacedSecretAsync(secret, secret.Metadata.NamespaceProperty, cancellationToken: cancellationToken);
            return secret;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // Another reconcile created it first: it is never overwritten; read what it stored.
            return await children.GetAsync<V1Secret>(ChildKind.Secret, secret.Metadata.NamespaceProperty, secret.Metadata.Name, cancellationToken);
        }
    }
}

/// <summary>The keys Secret a deployment's gateway reads: its name, and the fingerprint of its entries, or null when it does not exist.</summary>
/// <param name="Name">The Secret's name (in the deployment's namespace).</param>
/// <param name="Fingerprint"><see cref="GatewayKeySecret.Fingerprint"/> of its entries; null: no such Secret.</param>
public sealed record KeysSecretState(string Name, string? Fingerprint)
{
    /// <summary>Whether the Secret exists.</summary>
    public bool Found => Fingerprint is not null;

    /// <summary>The state of a stored Secret.</summary>
    public static KeysSecretState Of(string name, V1Secret secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var data = (secret.Data ?? new Dictionary<string, byte[]>()).ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);
        foreach (var (key, value) in secret.StringData ?? new Dictionary<string, string>())
        {
            data[key] = value;
        }

        return new KeysSecretState(name, GatewayKeySecret.Fingerprint(data));
    }
}
