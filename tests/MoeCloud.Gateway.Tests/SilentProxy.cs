using System.Net;
using System.Net.Sockets;

namespace MoeCloud.Gateway.Tests;

/// <summary>
/// A loopback TCP relay in front of a real endpoint that can go silent: from <see cref="Silence"/> on, it keeps every
/// connection open but forwards nothing either way, as a link that went down does (no reset, no answer).
/// </summary>
public sealed class SilentProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Task _accepting;
    private volatile bool _silent;
    private volatile bool _dying;

    public SilentProxy(Uri target)
    {
        _target = target;
        _listener.Start();
        _accepting = Accept();
    }

    /// <summary>The relay's address (http://127.0.0.1:port).</summary>
    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>From now on, bytes are read and dropped in both directions.</summary>
    public void Silence() => _silent = true;

    /// <summary>
    /// As <see cref="Silence"/>, and the relay takes no new connection (they are refused): a host that went away, whose
    /// open connections get no answer and whose address takes no new one.
    /// </summary>
    public void GoDown()
    {
        _silent = true;
        _listener.Stop();
    }

    /// <summary>
    /// A gateway process killed while its address stays reachable: every open connection is reset (RST); for the next
    /// <paramref name="dying"/> a new connection is accepted and reset at once (the kernel still completes handshakes on
    /// the dying process's listening socket), and from then on new connections are refused.
    /// </summary>
    public async Task Crash(TimeSpan dying)
    {
        _dying = true;
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                Reset(connection);
            }
        }

        await Task.Delay(dying);
        _listener.Stop();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_connections)
        {
            _connections.ForEach(c => c.Dispose());
        }

        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        catch (SocketException)
        {
            // The listener was stopped while accepting.
        }
        catch (ObjectDisposedException)
        {
            // The listener was stopped by GoDown.
        }

        _stop.Dispose();
    }

    private async Task Accept()
    {
        while (!_stop.IsCancellationRequested)
        {
            var inbound = await _listener.AcceptTcpClientAsync(_stop.Token);
            if (_dying)
            {
                _ = Task.Delay(TimeSpan.FromMilliseconds(20)).ContinueWith(_ => Reset(inbound), TaskScheduler.Default);
                continue;
            }

            var outbound = new TcpClient();
            await outbound.ConnectAsync(_target.Host, _target.Port, _stop.Token);
            lock (_connections)
            {
                _connections.Add(inbound);
                _connections.Add(outbound);
            }

            _ = Pump(inbound.GetStream(), outbound.GetStream());
            _ = Pump(outbound.GetStream(), inbound.GetStream());
        }
    }

    private static void Reset(TcpClient connection)
    {
        connection.Client.LingerState = new LingerOption(true, 0);
        connection.Dispose();
    }

    private async Task Pump(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, _stop.Token)) > 0)
            {
                if (!_silent)
                {
                    await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // A side closed, or the relay stopped.
        }
    }
}
