using Grpc.Core;

namespace MoeCloud.Contracts.Protos;

/// <summary>The <c>ForwardStream</c> rule of <c>moecloud.v1.MoeService</c>, for every server of it: each request in order, its response before the next.</summary>
public static class ForwardStreams
{
    /// <summary>Answers every request of <paramref name="requests"/> with <paramref name="forward"/>, in order, until the stream ends or the call is cancelled.</summary>
    public static async Task Serve(IAsyncStreamReader<ForwardRequest> requests, IServerStreamWriter<ForwardResponse> responses, ServerCallContext context, Func<ForwardRequest, ServerCallContext, Task<ForwardResponse>> forward)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(forward);
        await foreach (var request in requests.ReadAllAsync(context.CancellationToken))
        {
            await responses.WriteAsync(await forward(request, context));
        }
    }
}
