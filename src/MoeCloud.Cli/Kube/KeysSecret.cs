using System.Net;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Contracts.Security;

namespace MoeCloud.Cli.Kube;

/// <summary>
/// The Secret of client key hashes a MoeDeployment's gateway reads, loaded for editing: found through the deployment
/// (<c>spec.gateway.keysSecret</c>, else <c>&lt;name&gt;-gateway-keys</c>), changed in memory, and written back with its
/// resourceVersion, so a concurrent change is a conflict rather than a lost update.
/// </summary>
internal sealed class KeysSecret
{
    private readonly KubeConnection _kube;
    private readonly V1Secret _secret;

    private KeysSecret(KubeConnection kube, string deployment, V1Secret secret, Dictionary<string, string> data)
    {
        _kube = kube;
        _secret = secret;
        Deployment = deployment;
        Data = data;
    }

    /// <summary>The MoeDeployment's name.</summary>
    public string Deployment { get; }

    /// <summary>The Secret's name.</summary>
    public string Name => _secret.Metadata.Name;

    /// <summary>The Secret's entries, decoded.</summary>
    public Dictionary<string, string> Data { get; }

    /// <summary>Reads the deployment and its keys Secret; a missing deployment or Secret is a clear error.</summary>
    public static async Task<KeysSecret> ReadAsync(KubeConnection kube, string deployment, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kube);
        JsonElement resource;
        try
        {
            resource = (JsonElement)await kube.Client.CustomObjects.GetNamespacedCustomObjectAsync("moecloud.io", "v1alpha1", kube.Namespace, "moedeployments", deployment, ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new InvalidOperationException($"No MoeDeployment '{deployment}' in namespace '{kube.Namespace}' (kubectl get moedeployments -n {kube.Namespace}).", e);
        }

        var named = resource.TryGetProperty("spec", out var spec) && spec.TryGetProperty("gateway", out var gateway)
            && gateway.TryGetProperty("keysSecret", out var keys) && keys.ValueKind == JsonValueKind.String ? keys.GetString() : null;
        var name = string.IsNullOrEmpty(named) ? deployment + "-gateway-keys" : named;
        V1Secret secret;
        try
        {
            secret = await kube.Client.CoreV1.ReadNamespacedSecretAsync(name, kube.Namespace, cancellationToken: ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new InvalidOperationException(string.IsNullOrEmpty(named)
                ? $"MoeDeployment '{deployment}' has no Secret '{name}' yet: the operator creates it when it reconciles the deployment (is the operator running?)."
                : $"MoeDeployment '{deployment}' names spec.gateway.keysSecret '{name}', which does not exist in namespace '{kube.Namespace}'.", e);
        }

        var data = (secret.Data ?? new Dictionary<string, byte[]>()).ToDictionary(p => p.Key, p => Encoding.UTF8.GetString(p.Value), StringComparer.Ordinal);
        var loaded = new KeysSecret(kube, deployment, secret, data);
        loaded.Entries(); // a malformed Secret fails here, before anything is changed
        return loaded;
    }

    /// <summary>The client key entries; a malformed entry is an <see cref="InvalidDataException"/> naming the Secret.</summary>
    public List<GatewayKeyEntry> Entries()
    {
        try
        {
            return GatewayKeySecret.Read(Data, GatewayKeySecret.ClientPrefix, _secret.Metadata.Annotations?.AsReadOnly()).ToList();
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"Secret '{Name}' is not a gateway keys Secret: {e.Message}", e);
        }
    }

    /// <summary>Sets the entry at <paramref name="index"/> to the hash of <paramref name="key"/>, made now.</summary>
    public void Set(string index, string name, string key)
    {
        GatewayKeySecret.Write(Data, GatewayKeySecret.ClientPrefix, index, name, ApiKeys.Hash(key));
        _secret.Metadata.Annotations ??= new Dictionary<string, string>();
        GatewayKeySecret.MarkCreated(_secret.Metadata.Annotations, index, DateTimeOffset.UtcNow);
    }

    /// <summary>Writes the Secret back; a change made meanwhile by someone else is a clear error.</summary>
    public async Task SaveAsync(CancellationToken ct)
    {
        _secret.Data = Data.ToDictionary(p => p.Key, p => Encoding.UTF8.GetBytes(p.Value), StringComparer.Ordinal);
        _secret.StringData = null;
        try
        {
            await _kube.Client.CoreV1.ReplaceNamespacedSecretAsync(_secret, Name, _kube.Namespace, cancellationToken: ct);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new InvalidOperationException($"Secret '{Name}' changed while the keys were being written; nothing was saved, run the command again.", e);
        }
    }
}
