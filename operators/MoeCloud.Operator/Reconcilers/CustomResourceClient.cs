using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Reconcilers;

/// <summary>Typed access to the moecloud.io resources; a 404 on read is null, never an exception.</summary>
public sealed class CustomResourceClient(IKubernetes client)
{
    public IKubernetes Kubernetes => client;

    public async Task<T?> GetAsync<T>(ResourceKind kind, string ns, string name, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await client.CustomObjects.GetNamespacedCustomObjectAsync<T>(kind.Group, kind.Version, ns, kind.Plural, name, cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<IList<T>> ListAsync<T>(ResourceKind kind, string ns, string labelSelector, CancellationToken cancellationToken)
    {
        var list = await client.CustomObjects.ListNamespacedCustomObjectAsync<CustomResourceList<T>>(
            kind.Group, kind.Version, ns, kind.Plural, labelSelector: labelSelector, cancellationToken: cancellationToken);
        return list.Items;
    }

    public Task<T> CreateAsync<T>(ResourceKind kind, string ns, T body, CancellationToken cancellationToken) =>
        client.CustomObjects.CreateNamespacedCustomObjectAsync<T>(body!, kind.Group, kind.Version, ns, kind.Plural, cancellationToken: cancellationToken);

    /// <summary>Deletes an object; one that is already gone is not an error.</summary>
    public async Task DeleteAsync(ResourceKind kind, string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            await client.CustomObjects.DeleteNamespacedCustomObjectAsync(kind.Group, kind.Version, ns, kind.Plural, name, cancellationToken: cancellationToken);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Deleted already (by another reconcile, or by hand).
        }
    }

    /// <summary>Writes the whole status through the status subresource with one merge patch.</summary>
    public Task PatchStatusAsync(ResourceKind kind, string ns, string name, object status, CancellationToken cancellationToken) =>
        client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(new { status }, V1Patch.PatchType.MergePatch), kind.Group, kind.Version, ns, kind.Plural, name, cancellationToken: cancellationToken);

    /// <summary>Records a Kubernetes Event on an object (shown by kubectl describe and kubectl get events).</summary>
    public async Task RecordEventAsync(IKubernetesObject<V1ObjectMeta> subject, string type, string reason, string message, CancellationToken cancellationToken)
    {
        var now = DateTime.UtcNow;
        var ns = subject.Metadata.NamespaceProperty;
        await client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
        {
            Metadata = new V1ObjectMeta { GenerateName = subject.Metadata.Name + ".", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = subject.ApiVersion,
                Kind = subject.Kind,
                Name = subject.Metadata.Name,
                NamespaceProperty = ns,
                Uid = subject.Metadata.Uid,
                ResourceVersion = subject.Metadata.ResourceVersion,
            },
            Type = type,
            Reason = reason,
            Message = message,
            Source = new V1EventSource { Component = "moecloud-operator" },
            ReportingComponent = "moecloud.io/operator",
            FirstTimestamp = now,
            LastTimestamp = now,
            Count = 1,
        }, ns, cancellationToken: cancellationToken);
    }

    /// <summary>The owner reference the operator puts on every child of <paramref name="owner"/>.</summary>
    public static V1OwnerReference OwnerReference(IKubernetesObject<V1ObjectMeta> owner) => new()
    {
        ApiVersion = owner.ApiVersion,
        Kind = owner.Kind,
        Name = owner.Metadata.Name,
        Uid = owner.Metadata.Uid,
        Controller = true,
        BlockOwnerDeletion = true,
    };
}
