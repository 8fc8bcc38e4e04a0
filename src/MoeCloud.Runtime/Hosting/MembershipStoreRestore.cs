using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using StackExchange.Redis;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Puts the cluster back into a Redis membership store that came back empty (a Redis pod rescheduled without
/// persistence, or a restart that lost its data). Orleans writes the table's version only when a silo starts and a
/// silo's row only when it joins or changes status, so after such a loss no silo can vote another dead, and clients
/// (the gateway) see no membership change until a silo starts.
/// <para>
/// Every <see cref="CheckEvery"/>, while this silo is active, it reads the table's version and its own row; whenever
/// the version moved (and at least every <see cref="CopyEvery"/>) it keeps a copy of every row as stored. When its own
/// row is gone and the table's version is below the newest this silo has known, the store lost its data: in one atomic
/// script it writes every copied row back (rows already there are kept) and only then sets the version above the newest
/// known by <see cref="VersionMargin"/>. All rows appear in the same write as the newer version because Orleans (since
/// 10.2.2) fences a silo that is missing from a view newer than its own: a version raised before the other silos'
/// rows were back would make them stop themselves. The first silo to notice restores everyone; the others then find
/// their rows. Copied rows keep the statuses they had, so a silo that died while the store was down is back as it was
/// last written (active), its probes fail, and it is declared dead and repaired as any other death.
/// </para>
/// A silo that is not in the restorer's copy (it joined within one period before the loss) finds the restore's mark and
/// writes its own row through Orleans's table after that: it can lose that race against its next table read and stop
/// (its supervisor restarts it). A silo missing from a newer table with no restore's mark was declared dead and cleaned
/// up, and is not written back. When no silo holds a copy (every one joined within a period of the loss), the table is
/// not restored. A copy can be a period old: a silo that became active since finds its row back as joining (the
/// others would never count it active again) and writes it back as active; a row that says stopping or dead was
/// written by the others and stays.
/// <para>
/// None of these writes is gossiped, so each check also refreshes this silo's view when the store's version is above
/// it: every view follows a restore or a row written back within one <see cref="CheckEvery"/>.
/// </para>
/// </summary>
public sealed partial class MembershipStoreRestore(
    IOptions<RedisClusteringOptions> redis,
    IOptions<ClusterOptions> cluster,
    IMembershipTable table,
    IClusterMembershipService membership,
    ILocalSiloDetails silo,
    ILogger<MembershipStoreRestore> logger) : BackgroundService
{
    /// <summary>Time between two checks that this silo's row is in the store.</summary>
    internal static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(5);

    /// <summary>Longest time a copy of the rows is kept without reading them again (their alive times age).</summary>
    internal static readonly TimeSpan CopyEvery = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How far above the newest version this silo has known the restored table's version is set: other silos may have
    /// read writes made after this silo's last check, and a restored table is accepted only at a version above theirs.
    /// A check period sees a handful of writes (joins, status changes, votes); 100 is far more.
    /// </summary>
    internal const int VersionMargin = 100;

    private const string VersionField = "Version";

    /// <summary>Most tries of one write of this silo's own row when other silos' writes keep changing the version.</summary>
    private const int InsertTries = 5;

    /// <summary>How long the mark of a restore stays (a silo missing from a table restored that lately writes itself back).</summary>
    private static readonly TimeSpan MarkerLifetime = TimeSpan.FromMinutes(10);

    // KEYS[1]: the table; KEYS[2]: the restore's mark. ARGV[1]: this silo's field; ARGV[2]: the version to restore at;
    // ARGV[3]: the mark's lifetime in seconds; then field, value pairs. Restores only when this silo's row is gone and
    // the version is below ARGV[2]: 1 restored, 0 the row is there, -1 the version is not below (restored already, or
    // a table that moved on).
    private const string RestoreScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
            return 0
        end
        local v = tonumber(redis.call('HGET', KEYS[1], 'Version') or '-1')
        if v >= tonumber(ARGV[2]) then
            return -1
        end
        for i = 4, #ARGV, 2 do
            redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
        end
        redis.call('HSET', KEYS[1], 'Version', ARGV[2])
        redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
        return 1
        """;

    private readonly DateTime _started = DateTime.UtcNow;
    private Copy? _copy;
    private long _lastCheck;
    private bool _wasActive;

    /// <summary>When this silo's last check of the store ended (UTC), whatever it found; null before the first.</summary>
    public DateTime? LastCheck => Volatile.Read(ref _lastCheck) is var ticks and not 0 ? new DateTime(ticks, DateTimeKind.Utc) : null;

    /// <summary>Whether this silo holds a copy of the table's rows to restore them from (one period after it is active).</summary>
    public bool HoldsCopy => Volatile.Read(ref _copy) is not null;

    /// <summary>The rows of the table as stored when this silo last read it with its own row in it.</summary>
    private sealed record Copy(long Version, HashEntry[] Rows, DateTime Read);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var key = redis.Value.CreateRedisKey(cluster.Value);
        var configuration = redis.Value.ConfigurationOptions!.Clone();
        configuration.AbortOnConnectFail = false; // a store that is down now is checked again next period
        IConnectionMultiplexer? connection = null;
        try
        {
            using var timer = new PeriodicTimer(CheckEvery);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!ShouldCheck())
                {
                    continue; // joining, or leaving: Orleans writes this silo's row itself
                }

                try
                {
                    connection ??= await ConnectionMultiplexer.ConnectAsync(configuration);
                    await Check(connection.GetDatabase(), key, stoppingToken);
                    Volatile.Write(ref _lastCheck, DateTime.UtcNow.Ticks);
                }
                catch (Exception e) when (e is RedisException or TimeoutException or OrleansException)
                {
                    LogCheckFailed(logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The silo stops.
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Whether this silo checks the store now: while its view says it is active, and also when its view says joining
    /// after it has been active, which only a row restored from an old copy makes it say (Orleans takes the silo's own
    /// status from its row in the view). Not while it joins the first time, or leaves: Orleans writes the row then.
    /// </summary>
    private bool ShouldCheck()
    {
        var status = membership.CurrentSnapshot.Members.TryGetValue(silo.SiloAddress, out var me) ? me.Status : SiloStatus.None;
        if (status == SiloStatus.Active)
        {
            _wasActive = true;
            return true;
        }

        return _wasActive && status is SiloStatus.Created or SiloStatus.Joining;
    }

    private async Task Check(IDatabase db, RedisKey key, CancellationToken stoppingToken)
    {
        var me = silo.SiloAddress.ToString();
        var probe = await db.HashGetAsync(key, [VersionField, me]);
        var version = Version(probe[0]);
        if (probe[1].HasValue)
        {
            if (RowStatus(probe[1]) is SiloStatus.Created or SiloStatus.Joining)
            {
                // A restore wrote this silo's row back from a copy taken before it became active: as written, the
                // others would never count it active again. It is active; it says so (never past its own status: a
                // row that says dead or stopping was written by the others, and stays).
                await MarkSelfActive(stoppingToken);
                return;
            }

            if (version > membership.CurrentSnapshot.Version.Value)
            {
                // A write that no silo gossiped (a restore, a row marked active here or by another silo's check): the
                // view follows the table now rather than at its next periodic refresh (a minute by default).
                await membership.Refresh(new MembershipVersion(version), stoppingToken);
            }

            if (_copy is null || _copy.Version != version || DateTime.UtcNow - _copy.Read > CopyEvery)
            {
                var all = await db.HashGetAllAsync(key);
                var rows = all.Where(r => r.Name != VersionField).ToArray();
                if (rows.Any(r => r.Name == me))
                {
                    var before = _copy?.Rows.Length;
                    var copy = new Copy(Version(all.FirstOrDefault(r => r.Name == VersionField).Value), rows, DateTime.UtcNow);
                    Volatile.Write(ref _copy, copy);
                    if (before != rows.Length)
                    {
                        LogCopy(logger, rows.Length, copy.Version); // the first copy, and whenever silos joined or left the table
                    }
                }
            }

            return;
        }

        var known = Math.Max(membership.CurrentSnapshot.Version.Value, _copy?.Version ?? -1);
        if (version < known && _copy is null)
        {
            // The store lost its data before this silo took a copy: it writes its own row, below the version the
            // others know, where it waits unseen for a silo with a copy to restore the rest around it.
            await db.HashSetAsync(key, VersionField, 0, When.NotExists); // as Orleans initializes an empty table
            await InsertSelf(stoppingToken);
            return;
        }

        var restored = version < known
            ? (int)await db.ScriptEvaluateAsync(RestoreScript, [key, Marker(key)], [me, known + VersionMargin, (long)MarkerLifetime.TotalSeconds, .. _copy!.Rows.SelectMany(r => new[] { (RedisValue)(string)r.Name!, r.Value })])
            : -1;
        if (restored == 1)
        {
            LogRestored(logger, key.ToString(), _copy!.Rows.Length, version, known + VersionMargin);
        }
        else if (restored == -1 && await db.KeyExistsAsync(Marker(key)))
        {
            // Restored by another silo, without this one (it joined after that silo's copy was taken).
            await InsertSelf(stoppingToken);
        }

        // Otherwise a table newer than this silo's view lacks it, and no restore explains that: Orleans stops this
        // silo (it was declared dead and its row cleaned up); writing it back would bring a dead silo back.
    }

    /// <summary>The key that says the table was restored lately, so that a silo missing from it writes itself back.</summary>
    private static RedisKey Marker(RedisKey table) => table.Append(":restored");

    private static SiloStatus? RowStatus(RedisValue row)
    {
        try
        {
            using var json = JsonDocument.Parse(row.ToString());
            return json.RootElement.TryGetProperty("Status", out var status) && status.TryGetInt32(out var value) ? (SiloStatus)value : null;
        }
        catch (JsonException)
        {
            return null; // not a row this code knows how to read: Orleans's own reads decide
        }
    }

    private async Task MarkSelfActive(CancellationToken stoppingToken)
    {
        for (var attempt = 1; attempt <= InsertTries; attempt++)
        {
            stoppingToken.ThrowIfCancellationRequested();
            var data = await table.ReadAllAsync(stoppingToken);
            if (data.TryGet(silo.SiloAddress) is not { } row || row.Item1.Status is not (SiloStatus.Created or SiloStatus.Joining))
            {
                return; // corrected meanwhile, or no longer this silo's to correct
            }

            var entry = row.Item1;
            var was = entry.Status;
            entry.Status = SiloStatus.Active;
            entry.IAmAliveTime = DateTime.UtcNow;
            if (await table.UpdateRowAsync(entry, row.Item2, data.Version.Next(), stoppingToken))
            {
                LogMarkedActive(logger, silo.SiloAddress.ToString(), was, data.Version.Version + 1);
                await membership.Refresh(new MembershipVersion(data.Version.Version + 1), stoppingToken);
                return;
            }
        }

        LogInsertContended(logger, silo.SiloAddress.ToString(), InsertTries);
    }

    private async Task InsertSelf(CancellationToken stoppingToken)
    {
        for (var attempt = 1; attempt <= InsertTries; attempt++)
        {
            stoppingToken.ThrowIfCancellationRequested();
            var data = await table.ReadAllAsync(stoppingToken);
            if (data.TryGet(silo.SiloAddress) is not null)
            {
                return; // written meanwhile (by Orleans, or by another silo's restore)
            }

            var entry = new MembershipEntry
            {
                SiloAddress = silo.SiloAddress,
                SiloName = silo.Name,
                HostName = silo.DnsHostName,
                Status = SiloStatus.Active,
                ProxyPort = silo.GatewayAddress?.Endpoint.Port ?? 0,
                StartTime = _started,
                IAmAliveTime = DateTime.UtcNow,
            };
            if (await table.InsertRowAsync(entry, data.Version.Next(), stoppingToken))
            {
                LogInsertedSelf(logger, silo.SiloAddress.ToString(), data.Version.Version + 1);
                return;
            }
        }

        LogInsertContended(logger, silo.SiloAddress.ToString(), InsertTries);
    }

    private static long Version(RedisValue value) =>
        value.HasValue && long.TryParse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : -1;

    [LoggerMessage(EventId = 5420, Level = LogLevel.Warning, Message = "The Redis membership store ({Key}) lost its data (table version {Found}): wrote back the {Rows} rows this silo last read, at table version {Version}")]
    private static partial void LogRestored(ILogger logger, string key, int rows, long found, long version);

    [LoggerMessage(EventId = 5421, Level = LogLevel.Warning, Message = "Silo {Silo}'s row could not be written back to the Redis membership store: {Tries} tries lost to other writes; trying again next period")]
    private static partial void LogInsertContended(ILogger logger, string silo, int tries);

    [LoggerMessage(EventId = 5422, Level = LogLevel.Debug, Message = "Could not check this silo's row in the Redis membership store; checking again next period")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5424, Level = LogLevel.Information, Message = "Holding a copy of the Redis membership table ({Rows} rows at version {Version}) to write back if the store loses its data")]
    private static partial void LogCopy(ILogger logger, int rows, long version);

    [LoggerMessage(EventId = 5425, Level = LogLevel.Warning, Message = "Silo {Silo}'s row in the Redis membership store said {Status} (restored from a copy taken before it was active); wrote it back as active at table version {Version}")]
    private static partial void LogMarkedActive(ILogger logger, string silo, SiloStatus status, long version);

    [LoggerMessage(EventId = 5423, Level = LogLevel.Warning, Message = "Silo {Silo} was missing from the Redis membership store; wrote its row back at table version {Version}")]
    private static partial void LogInsertedSelf(ILogger logger, string silo, int version);
}
