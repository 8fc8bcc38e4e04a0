using System.Net;
using System.Security.Cryptography;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>
/// Creates or updates the built-in objects a deployment owns. An object is replaced only when the hash of its desired
/// form (annotation <c>moecloud.io/spec-hash</c>) changes, so server-side defaults never cause an update loop.
/// </summary>
public sealed class ChildApplier(IKubernetes client)
{
    public const string HashAnnotation = "moecloud.io/spec-hash";

    /// <summary>Applies <paramref name="desired"/>; returns the object as stored and whether it was created or changed.</summary>
    public async Task<(T Stored, bool Changed)> ApplyAsync<T>(ChildKind kind, T desired, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        ArgumentNullException.ThrowIfNull(desired);
        var hash = Hash(desired);
        desired.Metadata.Annotations ??= new Dictionary<string, string>();
        desired.Metadata.Annotations[HashAnnotation] = hash;
        using var generic = Client(kind);
        var ns = desired.Metadata.NamespaceProperty;
        T? existing;
        try
        {
            existing = await generic.ReadNamespacedAsync<T>(ns, desired.Metadata.Name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            existing = null;
        }

        if (existing is null)
        {
            return (await generic.CreateNamespacedAsync(desired, ns, cancellationToken), true);
        }

        if (existing.Metadata.Annotations?.TryGetValue(HashAnnotation, out var current) == true && current == hash)
        {
            return (existing, false);
        }

        desired.Metadata.ResourceVersion = existing.Metadata.ResourceVersion;
        return (await generic.ReplaceNamespacedAsync(desired, ns, desired.Metadata.Name, cancellationToken), true);
    }

    /// <summary>Deletes an owned object if it exists (used for the optional HorizontalPodAutoscaler only).</summary>
    public async Task DeleteIfPresentAsync<T>(ChildKind kind, string ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        using var generic = Client(kind);
        try
        {
            await generic.DeleteNamespacedAsync<T>(ns, name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone: nothing to do.
        }
    }

    public async Task<T?> GetAsync<T>(ChildKind kind, string ns, string name, CancellationToken cancellationToken)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        using var generic = Client(kind);
        try
        {
            return await generic.ReadNamespacedAsync<T>(ns, name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private GenericClient Client(ChildKind kind) => kind.Group.Length == 0
        ? new GenericClient(client, kind.Version, kind.Plural, disposeClient: false)
        : new GenericClient(client, kind.Group, kind.Version, kind.Plural, disposeClient: false);

    private static string Hash(object desired) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(KubernetesJson.Serialize(desired))))[..16];
}

/// <summary>A built-in kind the operator owns objects of.</summary>
public sealed record ChildKind(string Group, string Version, string Plural)
{
    public static readonly ChildKind StatefulSet = new("apps", "v1", "statefulsets");
    public static readonly ChildKind Deployment = new("apps", "v1", "deployments");
    public static readonly ChildKind Service = new("", "v1", "services");
    public static readonly ChildKind ConfigMap = new("", "v1", "configmaps");
    public static readonly ChildKind Secret = new("", "v1", "secrets");
    public static readonly ChildKind PodDisruptionBudget = new("policy", "v1", "poddisruptionbudgets");
    public static readonly ChildKind HorizontalPodAutoscaler = new("autoscaling", "v2", "horizontalpodautoscalers");
}
