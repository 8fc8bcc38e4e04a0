using Microsoft.Extensions.Logging;
using MoeCloud.Operator.Hosting;

namespace MoeCloud.Operator.Controllers;

/// <summary>A namespaced object's key in the work queue.</summary>
public readonly record struct ObjectKey(string Namespace, string Name)
{
    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>What a reconcile asks for next: nothing (wait for a change) or another look after a delay.</summary>
public readonly record struct ReconcileResult(TimeSpan? RequeueAfter)
{
    public static ReconcileResult Done => default;

    public static ReconcileResult After(TimeSpan delay) => new(delay);
}

/// <summary>A level-based reconciler: reads the object's current state and moves the world one step towards its spec.</summary>
public interface IReconciler
{
    string Name { get; }

    Task<ReconcileResult> ReconcileAsync(ObjectKey key, CancellationToken cancellationToken);
}

/// <summary>Runs a reconciler over a work queue with a fixed number of workers; a failed reconcile is retried with backoff.</summary>
public sealed partial class Controller(IReconciler reconciler, WorkQueue<ObjectKey> queue, int workers, OperatorMetrics metrics, ILogger logger)
{
    public WorkQueue<ObjectKey> Queue => queue;

    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(_ => WorkAsync(cancellationToken)));

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            ObjectKey key;
            try
            {
                key = await queue.TakeAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var started = metrics.Start();
            try
            {
                var result = await reconciler.ReconcileAsync(key, cancellationToken);
                queue.Forget(key);
                if (result.RequeueAfter is { } delay)
                {
                    queue.AddAfter(key, delay);
                }

                metrics.Reconciled(reconciler.Name, "success", started);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var delay = queue.AddRateLimited(key);
                metrics.Reconciled(reconciler.Name, "error", started);
                LogReconcileFailed(e, reconciler.Name, key.ToString(), delay);
            }
            finally
            {
                queue.Done(key);
                metrics.QueueDepth(reconciler.Name, queue.Count);
            }
        }
    }

    [LoggerMessage(EventId = 7110, Level = LogLevel.Warning, Message = "{Reconciler} reconcile of {Key} failed; retrying in {Delay}")]
    private partial void LogReconcileFailed(Exception exception, string reconciler, string key, TimeSpan delay);
}
