using System.Runtime.Intrinsics;

namespace MoeCloud.Model.Kernels;

/// <summary>Small vectorised helpers (dot product, sum, multiply-add) over float32 spans.</summary>
public static class VectorMath
{
    /// <summary>Σ a[i]·b[i] over the shorter length.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var n = Math.Min(a.Length, b.Length);
        var acc = Vector512<float>.Zero;
        var i = 0;
        for (; i <= n - 16; i += 16)
        {
            acc = Vector512.FusedMultiplyAdd(Vector512.Create(a.Slice(i, 16)), Vector512.Create(b.Slice(i, 16)), acc);
        }

        var s = Vector512.Sum(acc);
        for (; i < n; i++)
        {
            s += a[i] * b[i];
        }

        return s;
    }

    /// <summary>Σ a[i].</summary>
    public static float Sum(ReadOnlySpan<float> a)
    {
        var acc = Vector512<float>.Zero;
        var i = 0;
        for (; i <= a.Length - 16; i += 16)
        {
            acc += Vector512.Create(a.Slice(i, 16));
        }

        var s = Vector512.Sum(acc);
        for (; i < a.Length; i++)
        {
            s += a[i];
        }

        return s;
    }

    /// <summary>y[i] += alpha·x[i].</summary>
    public static void MultiplyAdd(ReadOnlySpan<float> x, float alpha, Span<float> y)
    {
        var a = Vector512.Create(alpha);
        var i = 0;
        for (; i <= x.Length - 16; i += 16)
        {
            Vector512.FusedMultiplyAdd(Vector512.Create(x.Slice(i, 16)), a, Vector512.Create(y.Slice(i, 16))).CopyTo(y.Slice(i, 16));
        }

        for (; i < x.Length; i++)
        {
            y[i] += alpha * x[i];
        }
    }
}
