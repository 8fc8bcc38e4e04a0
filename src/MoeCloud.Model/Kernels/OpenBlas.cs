using System.Runtime.InteropServices;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// OpenBLAS, loaded at run time from Debian's <c>libopenblas0-pthread</c> (or <c>MOECLOUD_OPENBLAS</c>, a path).
/// Only <c>cblas_sgemm</c> and the thread-count setter are used.
/// </summary>
public static unsafe class OpenBlas
{
    /// <summary>Environment variable that names the library file explicitly.</summary>
    public const string EnvironmentVariable = "MOECLOUD_OPENBLAS";

    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;

    private static readonly string[] Candidates =
    [
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "libopenblas.so.0",
        "libopenblas.so",
    ];

    private static readonly Lazy<Api?> Loaded = new(Load);
    private static readonly object ThreadLock = new();
    private static int _threads;

    /// <summary>Whether OpenBLAS could be loaded.</summary>
    public static bool IsAvailable => Loaded.Value is not null;

    /// <summary>The file loaded, or null.</summary>
    public static string? LibraryPath => Loaded.Value?.Path;

    /// <summary>Sets OpenBLAS's thread count (process-wide); a no-op when unchanged.</summary>
    public static void SetThreads(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var api = Require();
        lock (ThreadLock)
        {
            if (_threads != threads)
            {
                api.SetNumThreads(threads);
                _threads = threads;
            }
        }
    }

    /// <summary>
    /// <c>C[m, n] = A[m, k] · B[n, k]ᵀ</c>, all row-major float32 (B is a Hugging Face <c>[out, in]</c> weight).
    /// </summary>
    public static void GemmTransposedB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k)
    {
        if (m <= 0 || n <= 0 || k <= 0 || a.Length < (long)m * k || b.Length < (long)n * k || c.Length < (long)m * n)
        {
            throw new ArgumentException($"GEMM shapes do not fit: m={m}, n={n}, k={k}, |A|={a.Length}, |B|={b.Length}, |C|={c.Length}.");
        }

        var api = Require();
        fixed (float* pa = a, pb = b, pc = c)
        {
            api.Sgemm(RowMajor, NoTrans, Trans, m, n, k, 1f, pa, k, pb, k, 0f, pc, n);
        }
    }

    /// <summary>Why OpenBLAS is missing and how to install it.</summary>
    public static string MissingMessage =>
        $"OpenBLAS is not installed: install Debian's libopenblas0-pthread (infra/lib/deps.sh does) or set {EnvironmentVariable} to libopenblas.so (searched: {string.Join(", ", Candidates)}).";

    private static Api Require() => Loaded.Value ?? throw new InvalidOperationException(MissingMessage);

    private static Api? Load()
    {
        var explicitPath = Environment.GetEnvironmentVariable(EnvironmentVariable);
        foreach (var candidate in string.IsNullOrEmpty(explicitPath) ? Candidates : [explicitPath])
        {
            if (NativeLibrary.TryLoad(candidate, out var handle)
                && NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var sgemm)
                && NativeLibrary.TryGetExport(handle, "openblas_set_num_threads", out var threads))
            {
                return new Api(candidate, (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)sgemm, (delegate* unmanaged<int, void>)threads);
            }
        }

        return null;
    }

    private sealed class Api(
        string path,
        delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> sgemm,
        delegate* unmanaged<int, void> setNumThreads)
    {
        public string Path { get; } = path;

        public void Sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc) =>
            sgemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

        public void SetNumThreads(int threads) => setNumThreads(threads);
    }
}
