using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using MoeCloud.Operator.Entities;

namespace MoeCloud.Operator.Controllers;

/// <summary>
/// List-then-watch cache of one resource across all namespaces. It lists, then watches from the list's
/// resourceVersion, resumes a dropped watch from the last version it saw, and re-lists when the server answers
/// 410 Gone (the version is older than the server's history). Every change is handed to <see cref="Changed"/>.
/// </summary>
public sealed partial class Informer<T>(IKubernetes client, ResourceKind kind, TimeProvider time, ILogger logger)
    where T : class, IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentDictionary<string, T> _cache = new();
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Called for every added, changed or deleted object (after the cache is updated).</summary>
    public event Action<WatchEventType, T>? Changed;

    public ResourceKind Kind => kind;

    /// <summary>The resourceVersion the next watch resumes from.</summary>
    public string? LastResourceVersion { get; private set; }

    /// <summary>How many times the informer listed (1 + re-lists after 410 Gone).</summary>
    public int Lists { get; private set; }

    /// <summary>Completes after the first list.</summary>
    public Task Synced => _synced.Task;

    public IReadOnlyCollection<T> Items => _cache.Values.ToList();

    public T? Get(string ns, string name) => _cache.TryGetValue(Key(ns, name), out var found) ? found : null;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        var needList = true;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (needList)
                {
                    await ListAsync(cancellationToken);
                    needList = false;
                }

                needList = await WatchAsync(cancellationToken);
                failures = 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
            {
                needList = true;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or KubernetesException
                                      && !cancellationToken.IsCancellationRequested)
            {
                failures++;
                LogWatchFailed(e, kind.Plural, failures);
                await Task.Delay(Backoff.Exponential(failures, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30)), time, cancellationToken)
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task ListAsync(CancellationToken cancellationToken)
    {
        var list = await client.CustomObjects.ListClusterCustomObjectAsync<CustomResourceList<T>>(
            kind.Group, kind.Version, kind.Plural, cancellationToken: cancellationToken);
        var seen = new HashSet<string>();
        foreach (var item in list.Items)
        {
            var key = Key(item.Metadata.NamespaceProperty, item.Metadata.Name);
            seen.Add(key);
            var type = _cache.ContainsKey(key) ? WatchEventType.Modified : WatchEventType.Added;
            _cache[key] = item;
            Changed?.Invoke(type, item);
        }

        foreach (var gone in _cache.Keys.Where(k => !seen.Contains(k)).ToList())
        {
            if (_cache.TryRemove(gone, out var removed))
            {
                Changed?.Invoke(WatchEventType.Deleted, removed);
            }
        }

        LastResourceVersion = list.Metadata.ResourceVersion;
        Lists++;
        LogListed(kind.Plural, list.Items.Count, LastResourceVersion);
        _synced.TrySetResult();
    }

    /// <summary>Watches until the stream ends; returns true when the server said 410 Gone (re-list needed).</summary>
    private async Task<bool> WatchAsync(CancellationToken cancellationToken)
    {
        var gone = false;
        var events = client.CustomObjects.WatchListClusterCustomObjectAsync(
            kind.Group, kind.Version, kind.Plural, allowWatchBookmarks: true, resourceVersion: LastResourceVersion,
            timeoutSeconds: 300, onError: e => gone |= e is KubernetesException { Status.Code: (int)HttpStatusCode.Gone },
            cancellationToken: cancellationToken);
        await foreach (var (type, raw) in events)
        {
            var item = raw is JsonElement element ? KubernetesJson.Deserialize<T>(element) : null;
            if (item?.Metadata is null)
            {
                continue;
            }

            LastResourceVersion = item.Metadata.ResourceVersion ?? LastResourceVersion;
            if (type == WatchEventType.Bookmark)
            {
                continue;
            }

            var key = Key(item.Metadata.NamespaceProperty, item.Metadata.Name);
            if (type == WatchEventType.Deleted)
            {
                _cache.TryRemove(key, out _);
            }
            else
            {
                _cache[key] = item;
            }

            Changed?.Invoke(type, item);
        }

        if (gone)
        {
            LogGone(kind.Plural, LastResourceVersion);
        }

        return gone;
    }

    private static string Key(string? ns, string name) => $"{ns}/{name}";

    [LoggerMessage(EventId = 7100, Level = LogLevel.Debug, Message = "Listed {Plural}: {Count} objects at resourceVersion {ResourceVersion}")]
    private partial void LogListed(string plural, int count, string? resourceVersion);

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Watch of {Plural} from resourceVersion {ResourceVersion} is too old (410 Gone); re-listing")]
    private partial void LogGone(string plural, string? resourceVersion);

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Watch of {Plural} failed ({Failures} in a row); retrying")]
    private partial void LogWatchFailed(Exception exception, string plural, int failures);
}
