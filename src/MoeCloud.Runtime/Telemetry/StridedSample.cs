using System.Runtime.InteropServices;

namespace MoeCloud.Runtime.Telemetry;

/// <summary>
/// A deterministic, evenly spread sample of at most <c>capTokens</c> of the token routings offered to it: every token
/// until the cap is passed, then every 2nd, 4th, … (each time the cap is passed the stride doubles and every other kept
/// token is dropped), so the kept tokens are those whose offer index is a multiple of the stride, spread over everything
/// offered rather than its start. Holds between <c>capTokens / 2</c> and <c>capTokens</c> tokens once more than that
/// many were offered. Not thread-safe.
/// </summary>
/// <param name="capTokens">Most tokens kept; at least 1.</param>
/// <param name="width">Expert ids per token routing (<c>layers × topK</c>); at least 1.</param>
internal sealed class StridedSample(int capTokens, int width)
{
    private readonly int _cap = capTokens >= 1 ? capTokens : throw new ArgumentOutOfRangeException(nameof(capTokens), capTokens, "The sample must hold at least one token.");
    private readonly int _width = width >= 1 ? width : throw new ArgumentOutOfRangeException(nameof(width), width, "A routing has at least one expert id.");
    private readonly List<short> _ids = [];
    private long _offered;
    private long _stride = 1;

    /// <summary>Tokens kept.</summary>
    public int Tokens => _ids.Count / _width;

    /// <summary>The kept routings, int16 <c>[tokens, width]</c>, in the order offered.</summary>
    public ReadOnlySpan<short> Ids => CollectionsMarshal.AsSpan(_ids);

    /// <summary>Offers one token's routing (<c>width</c> ids).</summary>
    public void Offer(ReadOnlySpan<int> routing)
    {
        if (Take(routing.Length))
        {
            foreach (var id in routing)
            {
                _ids.Add((short)id);
            }

            Thin();
        }
    }

    /// <summary>Offers one token's routing (<c>width</c> ids).</summary>
    public void Offer(ReadOnlySpan<short> routing)
    {
        if (Take(routing.Length))
        {
            _ids.AddRange(routing);
            Thin();
        }
    }

    /// <summary>Forgets everything offered.</summary>
    public void Clear()
    {
        _ids.Clear();
        _offered = 0;
        _stride = 1;
    }

    private bool Take(int length)
    {
        if (length != _width)
        {
            throw new ArgumentException($"A routing of this sample has {_width} expert ids, got {length}.", nameof(length));
        }

        return _offered++ % _stride == 0;
    }

    private void Thin()
    {
        if (Tokens <= _cap)
        {
            return;
        }

        var ids = CollectionsMarshal.AsSpan(_ids);
        var kept = 0;
        for (var t = 0; t < Tokens; t += 2, kept++)
        {
            ids.Slice(t * _width, _width).CopyTo(ids.Slice(kept * _width, _width));
        }

        _ids.RemoveRange(kept * _width, _ids.Count - (kept * _width));
        _stride *= 2;
    }
}
