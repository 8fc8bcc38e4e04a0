using MoeCloud.Abstractions;
using MoeCloud.Runtime.Serving;

namespace MoeCloud.Runtime.Tests.Serving;

public sealed class CoalescingDispatcherTests
{
    private static readonly ExpertReplicaKey Replica = new("m", 0, 1, 0);

    [Fact]
    public async Task Dispatch_WhenCallsArriveWhileOneIsInFlight_SendsThemAsOneBatchAndSplitsResults()
    {
        var gate = new TaskCompletionSource();
        var batches = new List<int>();
        var dispatcher = new CoalescingDispatcher(Gated(gate, batches, batch => HiddenStates.From(batch.Values.ToArray().Select(v => v * 10).ToArray(), batch.Tokens, batch.Hidden)));

        var first = dispatcher.Dispatch(Replica, HiddenStates.From([1, 2], 1, 2));
        var queued = Enumerable.Range(0, 3).Select(i => dispatcher.Dispatch(Replica, HiddenStates.From([i, i + 0.5f, i + 1, i + 1.5f], 2, 2))).ToArray();
        Assert.Equal(3, dispatcher.QueueDepth);
        gate.SetResult();
        var results = await Task.WhenAll(queued);
        await first;

        Assert.Equal([1, 6], batches);
        Assert.Equal(2, dispatcher.Calls);
        Assert.Equal(4, dispatcher.Dispatches);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal([i * 10, (i + 0.5f) * 10, (i + 1) * 10, (i + 1.5f) * 10], results[i].Values.ToArray());
        }
    }

    [Fact]
    public async Task Dispatch_WhenBatchWouldExceedTheCap_SplitsIntoSeveralCalls()
    {
        var gate = new TaskCompletionSource();
        var batches = new List<int>();
        var dispatcher = new CoalescingDispatcher(Gated(gate, batches, batch => batch), maxBatchTokens: 4);

        var all = Enumerable.Range(0, 5).Select(_ => dispatcher.Dispatch(Replica, HiddenStates.From([1, 1, 1, 1], 2, 2))).ToArray();
        gate.SetResult();
        await Task.WhenAll(all);

        Assert.Equal([2, 4, 4], batches);
    }

    [Fact]
    public async Task Dispatch_WhenTheReplicaFails_FailsEveryCallOfThatBatchOnly()
    {
        var calls = 0;
        var dispatcher = new CoalescingDispatcher((_, batch) =>
            Interlocked.Increment(ref calls) == 1 ? Task.FromException<HiddenStates>(new InvalidOperationException("boom")) : Task.FromResult(batch));

        await Assert.ThrowsAsync<InvalidOperationException>(() => dispatcher.Dispatch(Replica, HiddenStates.From([1, 2], 1, 2)));
        var ok = await dispatcher.Dispatch(Replica, HiddenStates.From([3, 4], 1, 2));

        Assert.Equal([3f, 4f], ok.Values.ToArray());
    }

    /// <summary>A replica call that records each batch's tokens, waits for <paramref name="gate"/>, then answers with <paramref name="answer"/>.</summary>
    private static Func<ExpertReplicaKey, HiddenStates, Task<HiddenStates>> Gated(TaskCompletionSource gate, List<int> batches, Func<HiddenStates, HiddenStates> answer) => async (_, batch) =>
    {
        lock (batches)
        {
            batches.Add(batch.Tokens);
        }

        await gate.Task;
        return answer(batch);
    };
}
