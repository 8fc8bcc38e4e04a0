using System.Numerics;

namespace MoeCloud.Placement.Simulation;

/// <summary>
/// The remote-replica rule of DESIGN.md §2, the only implementation: a dispatch whose home pod holds no replica of its
/// expert goes to the least loaded replica; among equally loaded replicas, the i-th in replica order where
/// i = <see cref="TieHash"/>(key, seed) mod (number tied). The hash is a fixed integer mix, so the same key and seed
/// pick the same replica in every process (no <see cref="HashCode"/>, no string hashing).
/// The simulator chooses per dispatch (<see cref="ForDispatch"/>, loads = dispatches each replica served so far); the
/// runner chooses once per (layer, expert) batch of a step (<see cref="ForBatch"/>, loads = its dispatches in flight to
/// each replica's pod); the gateway's warm-up hints use <see cref="ForBatch"/> with the loads it can see.
/// </summary>
public static class RemoteReplica
{
    /// <summary>The seed the runner and the gateway use (the simulator's default seed too).</summary>
    public const int DefaultSeed = 1;

    /// <summary>The simulator's choice for dispatch (<paramref name="token"/>, <paramref name="layer"/>, <paramref name="slot"/>): the replica index.</summary>
    /// <exception cref="ArgumentException"><paramref name="loads"/> is empty.</exception>
    public static int ForDispatch<T>(ReadOnlySpan<T> loads, int token, int layer, int slot, int seed)
        where T : INumber<T> =>
        LeastLoaded(loads, TieHash((uint)token, (uint)layer, (uint)slot, (uint)seed));

    /// <summary>The runner's choice for the batch of <paramref name="expert"/>'s dispatches in <paramref name="layer"/> from <paramref name="homePod"/>: the replica index.</summary>
    /// <exception cref="ArgumentException"><paramref name="loads"/> is empty.</exception>
    public static int ForBatch<T>(ReadOnlySpan<T> loads, int homePod, int layer, int expert, int seed)
        where T : INumber<T> =>
        LeastLoaded(loads, TieHash((uint)homePod, (uint)layer, (uint)expert, (uint)seed));

    /// <summary>
    /// The index of the least loaded entry of <paramref name="loads"/> (one per replica, in replica order); among equal
    /// loads the (<paramref name="tieHash"/> mod ties)-th, counting in replica order from 0.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="loads"/> is empty.</exception>
    public static int LeastLoaded<T>(ReadOnlySpan<T> loads, uint tieHash)
        where T : INumber<T>
    {
        if (loads.IsEmpty)
        {
            throw new ArgumentException("an expert has at least one replica: the loads must not be empty.", nameof(loads));
        }

        if (loads.Length == 1)
        {
            return 0;
        }

        // 1. The least load and how many replicas share it.
        var min = loads[0];
        var ties = 1;
        for (var i = 1; i < loads.Length; i++)
        {
            if (loads[i] < min)
            {
                min = loads[i];
                ties = 1;
            }
            else if (loads[i] == min)
            {
                ties++;
            }
        }

        // 2. The hash picks one of the tied replicas.
        var pick = (int)(tieHash % (uint)ties);
        for (var i = 0; i < loads.Length; i++)
        {
            if (loads[i] == min && pick-- == 0)
            {
                return i;
            }
        }

        return 0;
    }

    /// <summary>A fixed mix of four integers (multiply-xor-shift), the same in every process and on every platform.</summary>
    public static uint TieHash(uint a, uint b, uint c, uint d)
    {
        var h = (a * 0x9E3779B1u) ^ (b * 0x85EBCA77u) ^ (c * 0xC2B2AE3Du) ^ (d * 0x27D4EB2Fu);
        h ^= h >> 15;
        h *= 0x2C1B3C6Du;
        h ^= h >> 12;
        return h;
    }
}
