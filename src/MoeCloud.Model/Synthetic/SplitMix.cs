namespace MoeCloud.Model.Synthetic;

/// <summary>
/// SplitMix64: a tiny, fast, seedable generator whose output is fixed by its seed on every platform and .NET
/// version, so synthetic models are reproducible byte for byte.
/// </summary>
internal struct SplitMix(ulong seed)
{
    private ulong _state = seed;

    /// <summary>A stream for one named tensor: independent of the order tensors are written in.</summary>
    public static SplitMix For(int seed, string name)
    {
        var h = 14695981039346656037UL;
        foreach (var c in name)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        return new SplitMix(h ^ ((ulong)(uint)seed * 0x9E3779B97F4A7C15UL));
    }

    public ulong Next()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [−1, 1) as float, from 24 random bits.</summary>
    public float NextSigned() => ((int)(Next() >> 40) - (1 << 23)) * (1f / (1 << 23));

    /// <summary>Standard normal (Box–Muller).</summary>
    public double NextGaussian()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Uniform whole number in [0, n).</summary>
    public int NextInt(int n) => (int)(Next() % (ulong)n);

    /// <summary>Fills <paramref name="values"/> with uniform noise of standard deviation <paramref name="std"/>.</summary>
    public void FillUniform(Span<float> values, double std)
    {
        var scale = (float)(std * Math.Sqrt(3));
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = NextSigned() * scale;
        }
    }
}
