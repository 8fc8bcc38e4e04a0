using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using k8s.Models;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeCloud.Operator.Controllers;
using MoeCloud.Operator.Entities;
using MoeCloud.Operator.Reconcilers;

namespace MoeCloud.Operator.Hosting;

/// <summary>
/// Holds the leader Lease and, while leading, runs the informers and the MoeModel and MoeDeployment controllers.
/// Losing the lease stops them; the replica keeps trying to win it back.
/// </summary>
public sealed partial class OperatorService(
    IKubernetes client,
    IOptions<OperatorOptions> options,
    MoeModelReconciler models,
    MoeDeploymentReconciler deployments,
    OperatorMetrics metrics,
    OperatorState state,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<OperatorService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        var config = new LeaderElectionConfig(new LeaseLock(client, o.LeaseNamespace, o.LeaseName, o.Identity))
        {
            LeaseDuration = TimeSpan.FromSeconds(o.LeaseDurationSeconds),
            RenewDeadline = TimeSpan.FromSeconds(o.RenewDeadlineSeconds),
            RetryPeriod = TimeSpan.FromSeconds(o.RetryPeriodSeconds),
        };
        using var elector = new LeaderElector(config);
        CancellationTokenSource? leading = null;
        Task? work = null;
        elector.OnStartedLeading += () =>
        {
            LogLeading(o.Identity);
            leading = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            work = RunControllersAsync(leading.Token);
            metrics.Leader(true);
        };
        elector.OnStoppedLeading += () =>
        {
            LogStoppedLeading(o.Identity);
            leading?.Cancel();
            metrics.Leader(false);
            state.Leading = false;
        };
        elector.OnError += e => LogElectionError(e);
        state.Started = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await elector.RunUntilLeadershipLostAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                leading?.Cancel();
                if (work is not null)
                {
                    await work.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }

                leading?.Dispose();
                leading = null;
                work = null;
            }
        }
    }

    private async Task RunControllersAsync(CancellationToken cancellationToken)
    {
        // Leave the elector's callback before starting the informers.
        await Task.Yield();
        var o = options.Value;
        var modelInformer = Informer<MoeModel>(MoeCloudApi.MoeModels);
        var deploymentInformer = Informer<MoeDeployment>(MoeCloudApi.MoeDeployments);
        var placementInformer = Informer<ExpertPlacement>(MoeCloudApi.ExpertPlacements);
        var siloInformer = Informer<V1StatefulSet>(MoeCloudApi.StatefulSets);
        using var modelQueue = new WorkQueue<ObjectKey>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        using var deploymentQueue = new WorkQueue<ObjectKey>(time, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));

        modelInformer.Changed += (_, m) =>
        {
            modelQueue.Add(Key(m));
            foreach (var d in deploymentInformer.Items.Where(d => d.Metadata.NamespaceProperty == m.Metadata.NamespaceProperty && d.Spec.ModelRef.Name == m.Metadata.Name))
            {
                deploymentQueue.Add(Key(d));
            }
        };
        deploymentInformer.Changed += (_, d) => deploymentQueue.Add(Key(d));
        placementInformer.Changed += (_, p) => EnqueueOwner(deploymentQueue, p);
        siloInformer.Changed += (_, s) => EnqueueOwner(deploymentQueue, s);

        var informers = new[]
        {
            modelInformer.RunAsync(cancellationToken), deploymentInformer.RunAsync(cancellationToken),
            placementInformer.RunAsync(cancellationToken), siloInformer.RunAsync(cancellationToken),
        };
        await Task.WhenAll(modelInformer.Synced, deploymentInformer.Synced, placementInformer.Synced, siloInformer.Synced)
            .WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        state.Leading = !cancellationToken.IsCancellationRequested;
        var controllers = new[]
        {
            new Controller(models, modelQueue, o.Workers, metrics, loggers.CreateLogger<Controller>()).RunAsync(cancellationToken),
            new Controller(deployments, deploymentQueue, o.Workers, metrics, loggers.CreateLogger<Controller>()).RunAsync(cancellationToken),
        };
        await Task.WhenAll(informers.Concat(controllers)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private Informer<T> Informer<T>(ResourceKind kind)
        where T : class, IKubernetesObject<V1ObjectMeta> =>
        new(client, kind, time, loggers.CreateLogger<Informer<T>>());

    private static void EnqueueOwner(WorkQueue<ObjectKey> queue, IKubernetesObject<V1ObjectMeta> child)
    {
        var owner = child.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == "MoeDeployment" && o.ApiVersion == MoeCloudApi.ApiVersion);
        if (owner is not null)
        {
            queue.Add(new ObjectKey(child.Metadata.NamespaceProperty, owner.Name));
        }
    }

    private static ObjectKey Key(IKubernetesObject<V1ObjectMeta> o) => new(o.Metadata.NamespaceProperty, o.Metadata.Name);

    [LoggerMessage(EventId = 7000, Level = LogLevel.Information, Message = "{Identity} is the leader; starting controllers")]
    private partial void LogLeading(string identity);

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "{Identity} lost the leader lease; stopping controllers")]
    private partial void LogStoppedLeading(string identity);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Leader election failed")]
    private partial void LogElectionError(Exception exception);
}

/// <summary>What the health endpoints report.</summary>
public sealed class OperatorState
{
    private volatile bool _started;
    private volatile bool _leading;

    /// <summary>The hosted service runs (leader election has started).</summary>
    public bool Started
    {
        get => _started;
        set => _started = value;
    }

    /// <summary>This replica leads and its informers have synced.</summary>
    public bool Leading
    {
        get => _leading;
        set => _leading = value;
    }
}
