using Microsoft.Extensions.DependencyInjection;
using MoeCloud.Abstractions;
using Orleans.Serialization;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// The layer message's rows through Orleans' serializer and copier, as two silos would use them: each side has its own
/// <see cref="RowPool"/>; writing returns the sender's array, reading rents the receiver's, and a copy in one silo
/// passes the same rows on.
/// </summary>
public sealed class PooledRowsCodecTests : IDisposable
{
    private const int Tokens = 3, Hidden = 5;

    private readonly RowPool _senderPool = new();
    private readonly RowPool _receiverPool = new();
    private readonly ServiceProvider _sender;
    private readonly ServiceProvider _receiver;

    public PooledRowsCodecTests()
    {
        _sender = Side(_senderPool);
        _receiver = Side(_receiverPool);
    }

    public void Dispose()
    {
        _sender.Dispose();
        _receiver.Dispose();
    }

    [Fact]
    public void Serialize_LayerWork_ReturnsTheSendersArrayAndTheReceiverReadsTheRowsIntoItsPool()
    {
        var work = Work(_senderPool);
        var expected = work.Rows.Values.ToArray();

        var bytes = _sender.GetRequiredService<Serializer>().SerializeToArray(work);

        Assert.True(work.Rows.IsDisposed, "sending hands the rows over: the codec returns the sender's array once written");
        Assert.Equal(0, _senderPool.Outstanding);

        var received = _receiver.GetRequiredService<Serializer>().Deserialize<LayerWork>(bytes);

        Assert.NotNull(received);
        Assert.Equal(1, _receiverPool.Outstanding);
        Assert.Equal((Tokens, Hidden), (received.Rows.Tokens, received.Rows.Hidden));
        Assert.Equal(expected, received.Rows.Values.ToArray());
        Assert.Equal(work.EntryRows, received.EntryRows);

        received.Rows.Dispose();

        Assert.Equal((1, 1, 0), (_receiverPool.Rented, _receiverPool.Returned, _receiverPool.Outstanding));
    }

    [Fact]
    public void DeepCopy_LayerWork_PassesTheSameRowsOn()
    {
        var work = Work(_senderPool);

        var copy = _sender.GetRequiredService<DeepCopier>().Copy(work);

        Assert.Same(work.Rows, copy.Rows);
        Assert.False(copy.Rows.IsDisposed);
        Assert.Equal(1, _senderPool.Outstanding);
    }

    [Fact]
    public void Deserialize_WhenTheShapeDisagreesWithTheLength_ThrowsNamingTheShape()
    {
        var rows = _senderPool.RentCleared(2, 4);
        var bytes = _sender.GetRequiredService<Serializer>().SerializeToArray(rows);
        var shape = bytes.AsSpan().IndexOf(new byte[] { 2, 0, 0, 0, 4, 0, 0, 0 }); // tokens and hidden, int32 little-endian
        bytes[shape] = 3;

        var error = Assert.ThrowsAny<Exception>(() => _receiver.GetRequiredService<Serializer>().Deserialize<PooledRows>(bytes));

        Assert.Contains("[3, 4]", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, _receiverPool.Outstanding);
    }

    [Fact]
    public void Dispose_Twice_ReturnsTheArrayOnceAndTheValuesThrowAfterwards()
    {
        var rows = _senderPool.Rent(Tokens, Hidden);

        rows.Dispose();
        rows.Dispose();

        Assert.Equal((1, 1), (_senderPool.Rented, _senderPool.Returned));
        Assert.Throws<ObjectDisposedException>(() => rows.Values.Length);
    }

    private static LayerWork Work(RowPool pool)
    {
        var rows = pool.Rent(Tokens, Hidden);
        for (var i = 0; i < rows.Length; i++)
        {
            rows.Values[i] = (i * 0.25f) - 1f;
        }

        return new LayerWork("m", 2, 1, rows, [0, 4], [0, 2, 3], [0, 2, 1], [0.5f, 0.25f, 1f]);
    }

    private static ServiceProvider Side(RowPool pool) =>
        new ServiceCollection()
            .AddSingleton(pool)
            .AddSerializer(b => b.AddAssembly(typeof(LayerWork).Assembly))
            .BuildServiceProvider();
}
