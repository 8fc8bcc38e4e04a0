using System.Runtime.InteropServices;

namespace MoeCloud.Model.Kernels;

/// <summary>
/// OpenBLAS, loaded at run time from Debian's <c>libopenblas0-pthread</c> (or <c>MOECLOUD_OPENBLAS</c>, a path).
/// Only <c>cblas_sgemm</c> and the thread-count setter are used.
/// </summary>
public static unsafe partial class OpenBlas
{
    /// <summary>Environment variable that names the library file explicitly.</summary>
    public const string EnvironmentVariable = "MOECLOUD_OPENBLAS";

    /// <summary>
    /// OpenBLAS's own variable (read once, when the library loads): its idle threads spin for 2^N cycles after a call
    /// before they sleep (N in [4, 30]; OpenBLAS's default is 28, about 0.1 s).
    /// </summary>
    public const string ThreadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT";

    /// <summary>
    /// The <see cref="ThreadTimeoutVariable"/> that <see cref="PreferShortIdleSpin"/> sets: 2^18 cycles, under 0.1 ms at
    /// 2.5–3 GHz. That covers the gap between an expert's two GEMMs; after the call the threads stop competing with the
    /// process's managed threads (the bfloat16 kernel, Orleans, Kestrel) on a machine with few cores.
    /// </summary>
    public const int PreferredThreadTimeout = 18;

    private const string LegacyThreadTimeoutVariable = "GOTO_THREAD_TIMEOUT";

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

    /// <summary>
    /// What <see cref="PreferShortIdleSpin"/> does with the environment it is given: the value to set, or null where the
    /// user set either of OpenBLAS's variables (theirs is kept).
    /// </summary>
    public static string? ThreadTimeoutToSet(string? threadTimeout, string? legacyThreadTimeout) =>
        string.IsNullOrEmpty(threadTimeout) && string.IsNullOrEmpty(legacyThreadTimeout)
            ? PreferredThreadTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>
    /// Sets <see cref="ThreadTimeoutVariable"/> to <see cref="PreferredThreadTimeout"/> in the process's native
    /// environment, unless the user set it (or <c>GOTO_THREAD_TIMEOUT</c>). OpenBLAS reads it only when it loads, so this
    /// runs first thing in <c>Main</c>, before OpenBLAS loads and while no other thread reads the environment (setenv is
    /// not safe beside a concurrent getenv). Without it, after every multi-threaded GEMM OpenBLAS's threads spin for about
    /// 0.1 s, and on a 2-core machine the managed work that follows runs on what is left.
    /// </summary>
    /// <returns>The value OpenBLAS will read (<see cref="IdleSpin"/>).</returns>
    public static string PreferShortIdleSpin()
    {
        if (OperatingSystem.IsLinux() && ThreadTimeoutToSet(NativeVariable(ThreadTimeoutVariable), NativeVariable(LegacyThreadTimeoutVariable)) is { } value)
        {
            _ = SetEnv(ThreadTimeoutVariable, value, 0);
        }

        return IdleSpin;
    }

    /// <summary>
    /// How long OpenBLAS's idle threads spin, as this process's native environment tells it: for example
    /// <c>OPENBLAS_THREAD_TIMEOUT=18</c>, or OpenBLAS's default where neither variable is set.
    /// </summary>
    public static string IdleSpin =>
        (OperatingSystem.IsLinux() ? (NativeVariable(ThreadTimeoutVariable), NativeVariable(LegacyThreadTimeoutVariable)) : (null, null)) switch
        {
            ({ Length: > 0 } v, _) => $"{ThreadTimeoutVariable}={v}",
            (_, { Length: > 0 } v) => $"{LegacyThreadTimeoutVariable}={v}",
            _ => $"{ThreadTimeoutVariable} unset (OpenBLAS's default, 2^28 cycles)",
        };

    /// <summary>The native environment's value (.NET's <see cref="Environment"/> does not see a later setenv).</summary>
    private static string? NativeVariable(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint GetEnv(string name);

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

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
