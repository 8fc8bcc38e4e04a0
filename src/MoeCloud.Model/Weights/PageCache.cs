using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace MoeCloud.Model.Weights;

/// <summary>
/// Linux page-cache hints and probes: <c>madvise</c> on mapped checkpoints (so only the tensors read are paged in),
/// and, for benchmarks and tests, how much of a file is resident (<c>mincore</c>) and dropping it
/// (<c>posix_fadvise(DONTNEED)</c>). Elsewhere the hints do nothing and the probes throw <see cref="PlatformNotSupportedException"/>.
/// </summary>
public static unsafe partial class PageCache
{
    private const int MadvRandom = 1;
    private const int MadvWillNeed = 3;
    private const int FadvDontNeed = 4;

    /// <summary>The system page size.</summary>
    public static int PageSize { get; } = Environment.SystemPageSize;

    /// <summary>Bytes of <paramref name="path"/> resident in the page cache.</summary>
    public static long ResidentBytes(string path) => ResidentPages(path).Count(r => r) * (long)PageSize;

    /// <summary>Residency of each page of <paramref name="path"/>.</summary>
    public static bool[] ResidentPages(string path)
    {
        RequireLinux();
        var length = new FileInfo(path).Length;
        if (length == 0)
        {
            return [];
        }

        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        try
        {
            var pages = (length + PageSize - 1) / PageSize;
            var vec = new byte[pages];
            fixed (byte* v = vec)
            {
                if (Mincore(pointer + view.PointerOffset, (nuint)length, v) != 0)
                {
                    throw new IOException($"{path}: mincore failed (errno {Marshal.GetLastPInvokeError()})");
                }
            }

            return vec.Select(b => (b & 1) != 0).ToArray();
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>Writes back and drops <paramref name="path"/>'s pages from the page cache.</summary>
    public static void Evict(string path)
    {
        RequireLinux();
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var fd = (int)handle.DangerousGetHandle();
        _ = Fsync(fd);
        var rc = PosixFadvise(fd, 0, 0, FadvDontNeed);
        if (rc != 0)
        {
            throw new IOException($"{path}: posix_fadvise failed ({rc})");
        }
    }

    /// <summary>Advises the kernel not to read around faults in a mapping (only the pages touched are read).</summary>
    internal static void AdviseRandom(byte* start, long length)
    {
        if (OperatingSystem.IsLinux() && length > 0)
        {
            _ = Madvise(start, (nuint)length, MadvRandom);
        }
    }

    /// <summary>Asks the kernel to read <c>[start, start + length)</c> of a mapping ahead, as one request.</summary>
    internal static void AdviseWillNeed(byte* mappingBase, long offset, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0)
        {
            return;
        }

        var first = offset / PageSize * PageSize;
        _ = Madvise(mappingBase + first, (nuint)(offset + length - first), MadvWillNeed);
    }

    private static void RequireLinux()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Page-cache probes need Linux (mincore, posix_fadvise).");
        }
    }

    [LibraryImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static partial int Mincore(byte* addr, nuint length, byte* vec);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(byte* addr, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);
}
