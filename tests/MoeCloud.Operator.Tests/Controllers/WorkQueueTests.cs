using Microsoft.Extensions.Time.Testing;
using MoeCloud.Operator.Controllers;

namespace MoeCloud.Operator.Tests.Controllers;

public sealed class WorkQueueTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task Add_WhenKeyAddedTwice_QueuesItOnce()
    {
        using var queue = new WorkQueue<string>(new FakeTimeProvider(), Base, TimeSpan.FromSeconds(10));
        queue.Add("a");
        queue.Add("a");
        queue.Add("b");
        Assert.Equal(2, queue.Count);
        Assert.Equal("a", await queue.TakeAsync(CancellationToken.None));
        Assert.Equal("b", await queue.TakeAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Add_WhenKeyIsBeingProcessed_RequeuesItOnDone()
    {
        using var queue = new WorkQueue<string>(new FakeTimeProvider(), Base, TimeSpan.FromSeconds(10));
        queue.Add("a");
        var key = await queue.TakeAsync(CancellationToken.None);
        queue.Add("a");
        Assert.Equal(0, queue.Count);
        queue.Done(key);
        Assert.Equal(1, queue.Count);
    }

    [Fact]
    public void AddRateLimited_WhenFailuresRepeat_BacksOffExponentiallyUpToTheCap()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(time, Base, TimeSpan.FromMilliseconds(350));
        Assert.Equal(TimeSpan.FromMilliseconds(100), queue.AddRateLimited("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(200), queue.AddRateLimited("a"));
        Assert.Equal(TimeSpan.FromMilliseconds(350), queue.AddRateLimited("a"));
        Assert.Equal(3, queue.Failures("a"));
        queue.Forget("a");
        Assert.Equal(0, queue.Failures("a"));
    }

    [Fact]
    public void AddAfter_WhenTimeAdvances_QueuesTheKeyOnlyAtItsDueTime()
    {
        var time = new FakeTimeProvider();
        using var queue = new WorkQueue<string>(time, Base, TimeSpan.FromSeconds(10));
        queue.AddAfter("a", TimeSpan.FromSeconds(5));
        queue.AddAfter("a", TimeSpan.FromSeconds(2));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, queue.Count);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, queue.Count);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, queue.Count);
    }
}
