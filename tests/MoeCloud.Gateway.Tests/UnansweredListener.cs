using System.Net;
using System.Net.Sockets;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A loopback address whose new connections are never answered, as a vanished pod's address on a bridge (no refusal,
/// no reset): a listening socket with a backlog of 0 whose accept queue is filled by connections nobody accepts, so the
/// kernel drops every further SYN and a new connection waits for its connect timeout.
/// </summary>
public sealed class UnansweredListener : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _fillers = [];

    public UnansweredListener()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(0);
        // Fill the accept queue: connect until one does not complete (bounded; Linux queues backlog + 1).
        for (var i = 0; i < 16; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _fillers.Add(filler);
            if (!filler.ConnectAsync(_listener.LocalEndPoint!).Wait(TimeSpan.FromMilliseconds(500)))
            {
                return;
            }
        }

        throw new InvalidOperationException("the accept queue never filled: connections to the listener are still answered");
    }

    /// <summary>The address (http://127.0.0.1:port).</summary>
    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}";

    public void Dispose()
    {
        _fillers.ForEach(f => f.Dispose());
        _listener.Dispose();
    }
}
