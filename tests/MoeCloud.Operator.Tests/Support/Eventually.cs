namespace MoeCloud.Operator.Tests.Support;

/// <summary>Polls a condition until it holds or a deadline passes (no fixed sleeps in tests).</summary>
public static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T?>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        T? last = null;
        while (DateTime.UtcNow < deadline)
        {
            last = await probe();
            if (last is not null && done(last))
            {
                return last;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException($"timed out waiting for {what}; last seen: {(last is null ? "nothing" : k8s.KubernetesJson.Serialize(last))}");
    }
}
