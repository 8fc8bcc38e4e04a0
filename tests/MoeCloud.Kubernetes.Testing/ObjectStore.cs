using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace MoeCloud.Kubernetes.Testing;

/// <summary>Where an object lives: its resource, namespace ("" for cluster-scoped) and name.</summary>
public readonly record struct StoreKey(string Group, string Plural, string Namespace, string Name);

/// <summary>One change, as a watch stream sends it.</summary>
public sealed record WatchEvent(string Type, StoreKey Key, JsonObject Object, long ResourceVersion);

/// <summary>
/// Objects as JSON under one global, monotonically increasing resourceVersion, with a bounded history of changes
/// so that watches can resume; a watch from a version older than the history answers 410 Gone.
/// Callers hold <see cref="Gate"/> around read-modify-write sequences.
/// </summary>
public sealed class ObjectStore(int historyCapacity = 10_000)
{
    private readonly Dictionary<StoreKey, JsonObject> _objects = [];
    private readonly Queue<WatchEvent> _history = new();
    private readonly List<WatchSubscription> _subscriptions = [];
    private long _resourceVersion = 100;
    private long _compactedThrough = 100;

    public Lock Gate { get; } = new();

    public long ResourceVersion
    {
        get
        {
            lock (Gate)
            {
                return _resourceVersion;
            }
        }
    }

    public JsonObject? Get(StoreKey key)
    {
        lock (Gate)
        {
            return _objects.TryGetValue(key, out var found) ? found.DeepClone().AsObject() : null;
        }
    }

    public (List<JsonObject> Items, long ResourceVersion) List(string group, string plural, string? ns)
    {
        lock (Gate)
        {
            var items = _objects
                .Where(kv => kv.Key.Group == group && kv.Key.Plural == plural && (ns is null || kv.Key.Namespace == ns))
                .OrderBy(kv => kv.Key.Namespace, StringComparer.Ordinal).ThenBy(kv => kv.Key.Name, StringComparer.Ordinal)
                .Select(kv => kv.Value.DeepClone().AsObject())
                .ToList();
            return (items, _resourceVersion);
        }
    }

    /// <summary>Every stored object whose ownerReferences name <paramref name="uid"/>.</summary>
    public List<StoreKey> Dependents(string uid)
    {
        lock (Gate)
        {
            return _objects
                .Where(kv => kv.Value["metadata"]?["ownerReferences"] is JsonArray refs && refs.Any(r => (string?)r?["uid"] == uid))
                .Select(kv => kv.Key)
                .ToList();
        }
    }

    /// <summary>Stores an object (new or changed) with the next resourceVersion and tells the watchers.</summary>
    public JsonObject Put(StoreKey key, JsonObject obj)
    {
        lock (Gate)
        {
            var type = _objects.ContainsKey(key) ? "MODIFIED" : "ADDED";
            var stored = obj.DeepClone().AsObject();
            var version = ++_resourceVersion;
            Metadata(stored)["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
            _objects[key] = stored;
            Publish(new WatchEvent(type, key, stored, version));
            return stored.DeepClone().AsObject();
        }
    }

    public JsonObject? Remove(StoreKey key)
    {
        lock (Gate)
        {
            if (!_objects.Remove(key, out var removed))
            {
                return null;
            }

            var version = ++_resourceVersion;
            Metadata(removed)["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
            Publish(new WatchEvent("DELETED", key, removed, version));
            return removed.DeepClone().AsObject();
        }
    }

    /// <summary>
    /// Starts a watch of one resource (optionally one namespace). With <paramref name="since"/> it replays the changes
    /// after that version, or returns null when the history no longer reaches back that far (410 Gone); without it,
    /// it starts with an ADDED event for every current object.
    /// </summary>
    public WatchSubscription? Watch(string group, string plural, string? ns, long? since)
    {
        lock (Gate)
        {
            var subscription = new WatchSubscription(group, plural, ns);
            if (since is { } from)
            {
                if (from < _compactedThrough)
                {
                    return null;
                }

                foreach (var change in _history.Where(e => e.ResourceVersion > from))
                {
                    subscription.Offer(change);
                }
            }
            else
            {
                foreach (var (key, obj) in _objects.OrderBy(kv => kv.Key.Name, StringComparer.Ordinal))
                {
                    subscription.Offer(new WatchEvent("ADDED", key, obj, _resourceVersion));
                }
            }

            _subscriptions.Add(subscription);
            return subscription;
        }
    }

    public void Unsubscribe(WatchSubscription subscription)
    {
        lock (Gate)
        {
            _subscriptions.Remove(subscription);
        }
    }

    /// <summary>Forgets the change history, so that every resumed watch gets 410 Gone (as after an etcd compaction).</summary>
    public void Compact()
    {
        lock (Gate)
        {
            _history.Clear();
            _compactedThrough = _resourceVersion;
        }
    }

    /// <summary>Ends every open watch stream (as when the API server restarts or a connection drops).</summary>
    public void CloseWatches()
    {
        lock (Gate)
        {
            foreach (var subscription in _subscriptions)
            {
                subscription.Complete();
            }

            _subscriptions.Clear();
        }
    }

    private void Publish(WatchEvent change)
    {
        _history.Enqueue(change);
        while (_history.Count > historyCapacity)
        {
            _compactedThrough = _history.Dequeue().ResourceVersion;
        }

        foreach (var subscription in _subscriptions)
        {
            subscription.Offer(change);
        }
    }

    private static JsonObject Metadata(JsonObject obj) => obj["metadata"] as JsonObject ?? (JsonObject)(obj["metadata"] = new JsonObject());
}

/// <summary>The events one watch stream will send.</summary>
public sealed class WatchSubscription(string group, string plural, string? ns)
{
    private readonly Channel<WatchEvent> _events = Channel.CreateUnbounded<WatchEvent>();

    public ChannelReader<WatchEvent> Events => _events.Reader;

    internal void Offer(WatchEvent change)
    {
        if (change.Key.Group == group && change.Key.Plural == plural && (ns is null || change.Key.Namespace == ns))
        {
            _events.Writer.TryWrite(change with { Object = change.Object.DeepClone().AsObject() });
        }
    }

    internal void Complete() => _events.Writer.TryComplete();
}
