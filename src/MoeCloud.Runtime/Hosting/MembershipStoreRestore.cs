using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Clustering.Redis;
using Orleans.Configuration;
using StackExchange.Redis;

namespace MoeCloud.Runtime.Hosting;

/// <summary>
/// Writes this silo back into a Redis membership store that came back empty (a Redis pod rescheduled without
/// persistence, or a restart that lost its data). Orleans writes the table's version only when a silo starts and a
/// silo's row only when it joins, so after such a loss every read of the table fails, no silo can vote another dead, and
/// clients (the gateway) see no membership change until a silo starts. Every <see cref="CheckEvery"/>, while this silo
/// is active, it checks that its row is in the store; when it is not, it raises the table's version above the newest
/// this silo has seen (a view accepts only a newer version, so a restored table at a lower one would be ignored) and
/// inserts its row again through Orleans's own table. Each silo restores itself, so the table holds every live silo
/// again within a period; the dead ones' rows are gone, which is what the cluster would come to after their cleanup.
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

    /// <summary>Most tries of one restore when other silos' writes keep changing the table's version under it.</summary>
    private const int InsertTries = 5;

    // Raises the table's version to ARGV[1] unless it is at least that already (atomic, so silos may race).
    private const string RaiseVersion = """
        local v = tonumber(redis.call('HGET', KEYS[1], 'Version') or '-1')
        if v < tonumber(ARGV[1]) then
            redis.call('HSET', KEYS[1], 'Version', ARGV[1])
            return 1
        end
        return 0
        """;

    private readonly DateTime _started = DateTime.UtcNow;

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
                if (!IsActive())
                {
                    continue; // joining, or leaving: Orleans writes this silo's row itself
                }

                try
                {
                    connection ??= await ConnectionMultiplexer.ConnectAsync(configuration);
                    var db = connection.GetDatabase();
                    if (await db.HashExistsAsync(key, silo.SiloAddress.ToString()))
                    {
                        continue;
                    }

                    await Restore(db, key, stoppingToken);
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

    private bool IsActive() =>
        membership.CurrentSnapshot.Members.TryGetValue(silo.SiloAddress, out var me) && me.Status == SiloStatus.Active;

    private async Task Restore(IDatabase db, RedisKey key, CancellationToken stoppingToken)
    {
        var seen = membership.CurrentSnapshot.Version.Value;
        var raised = (int)await db.ScriptEvaluateAsync(RaiseVersion, [key], [(seen + 1).ToString(CultureInfo.InvariantCulture)]) == 1;
        for (var attempt = 1; attempt <= InsertTries; attempt++)
        {
            stoppingToken.ThrowIfCancellationRequested();
            var data = await table.ReadAllAsync(stoppingToken);
            if (data.TryGet(silo.SiloAddress) is not null)
            {
                return; // written meanwhile (by Orleans or by an earlier try)
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
                LogRestored(logger, silo.SiloAddress.ToString(), key.ToString(), data.Version.Version + 1, raised ? seen + 1 : -1);
                return;
            }
        }

        LogRestoreContended(logger, silo.SiloAddress.ToString(), InsertTries);
    }

    [LoggerMessage(EventId = 5420, Level = LogLevel.Warning, Message = "Silo {Silo} was missing from the Redis membership store ({Key}): the store lost its data; wrote the silo back at table version {Version} (version raised to {Raised} first; -1: another silo had)")]
    private static partial void LogRestored(ILogger logger, string silo, string key, int version, long raised);

    [LoggerMessage(EventId = 5421, Level = LogLevel.Warning, Message = "Silo {Silo} is missing from the Redis membership store and {Tries} tries to write it back lost to other writes; trying again next period")]
    private static partial void LogRestoreContended(ILogger logger, string silo, int tries);

    [LoggerMessage(EventId = 5422, Level = LogLevel.Debug, Message = "Could not check this silo's row in the Redis membership store; checking again next period")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
