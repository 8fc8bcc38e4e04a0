using System.Buffers;

namespace MoeCloud.Abstractions;

/// <summary>
/// Token rows on the hot path, <see cref="Tokens"/> × <see cref="Hidden"/> fp32 values, row-major, in an array rented
/// from a <see cref="RowPool"/> (the layer message's rows and its reply). It has one owner at a time, and ownership is
/// explicit:
/// <list type="bullet">
/// <item>Whoever rents or receives it owns it and calls <see cref="Dispose"/> once it has consumed the values; that
/// returns the array to its pool. A second dispose does nothing.</item>
/// <item>Sending it in a grain call or returning it from one hands it over: the sender must not touch it again. When
/// Orleans serialises it (a call to another silo), <see cref="PooledRowsCodec"/> writes the values straight from the
/// array and then returns the array; the receiver gets a new instance, read into an array from its own silo's pool.
/// When the call stays in the silo, Orleans passes the same instance (it is <see cref="ImmutableAttribute">immutable</see>
/// to the copier, <see cref="PooledRowsCopier"/>), and the receiver owns it.</item>
/// <item>After <see cref="Dispose"/>, the values throw <see cref="ObjectDisposedException"/>; an array is never
/// returned twice. A buffer its owner drops without disposing is only garbage, never reused.</item>
/// </list>
/// </summary>
[Immutable]
public sealed class PooledRows : IDisposable
{
    private readonly RowPool _pool;
    private float[]? _array;

    internal PooledRows(RowPool pool, float[] array, int tokens, int hidden)
    {
        _pool = pool;
        _array = array;
        Tokens = tokens;
        Hidden = hidden;
    }

    /// <summary>Rows.</summary>
    public int Tokens { get; }

    /// <summary>Columns (the model's hidden size).</summary>
    public int Hidden { get; }

    /// <summary>Values, <see cref="Tokens"/> × <see cref="Hidden"/>.</summary>
    public int Length => Tokens * Hidden;

    /// <summary>Whether the array went back to its pool.</summary>
    public bool IsDisposed => Volatile.Read(ref _array) is null;

    /// <summary>The values; throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    public Span<float> Values => Array().AsSpan(0, Length);

    /// <summary>The values as memory, for kernels that take it; valid until <see cref="Dispose"/>.</summary>
    public Memory<float> Memory => Array().AsMemory(0, Length);

    /// <summary>Returns the array to its pool, once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _array, null) is { } array)
        {
            _pool.Return(array);
        }
    }

    private float[] Array() => Volatile.Read(ref _array) ?? throw new ObjectDisposedException(nameof(PooledRows), $"These [{Tokens}, {Hidden}] rows went back to their pool (they were sent, or consumed).");
}

/// <summary>
/// The arrays of <see cref="PooledRows"/> on one silo, from <see cref="ArrayPool{T}.Shared"/>, counted: how many were
/// rented and returned, so that a test (or a metric) sees that every layer's buffers came back. A silo registers one;
/// <see cref="PooledRowsCodec"/> takes it from the silo's services, or <see cref="Shared"/> where none is registered.
/// </summary>
public sealed class RowPool
{
    /// <summary>Largest value count rows may have: 256 Mi floats (1 GiB).</summary>
    public const int MaxValues = 1 << 28;

    private long _rented;
    private long _returned;

    /// <summary>A pool for processes that register none (an Orleans client).</summary>
    public static RowPool Shared { get; } = new();

    /// <summary>Arrays rented so far.</summary>
    public long Rented => Interlocked.Read(ref _rented);

    /// <summary>Arrays returned so far.</summary>
    public long Returned => Interlocked.Read(ref _returned);

    /// <summary>Arrays rented and not yet returned.</summary>
    public long Outstanding => Rented - Returned;

    /// <summary>Rents rows of shape <c>[tokens, hidden]</c>; their values are whatever the array held (see <see cref="RentCleared"/>).</summary>
    public PooledRows Rent(int tokens, int hidden)
    {
        if (tokens < 0 || hidden <= 0 || (long)tokens * hidden > MaxValues)
        {
            throw new ArgumentException($"Rows of shape [{tokens}, {hidden}] need tokens ≥ 0, hidden > 0 and at most {MaxValues} values.");
        }

        var array = ArrayPool<float>.Shared.Rent(Math.Max(1, tokens * hidden));
        Interlocked.Increment(ref _rented);
        return new PooledRows(this, array, tokens, hidden);
    }

    /// <summary>Rents rows of shape <c>[tokens, hidden]</c>, all zero.</summary>
    public PooledRows RentCleared(int tokens, int hidden)
    {
        var rows = Rent(tokens, hidden);
        rows.Values.Clear();
        return rows;
    }

    internal void Return(float[] array)
    {
        Interlocked.Increment(ref _returned);
        ArrayPool<float>.Shared.Return(array);
    }
}
