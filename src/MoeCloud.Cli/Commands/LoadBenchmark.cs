using MoeCloud.Model.Spec;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;

namespace MoeCloud.Cli.Commands;

/// <summary>Result of <c>moectl bench load</c>.</summary>
/// <param name="Preset">The checkpoint's preset.</param>
/// <param name="Files">Safetensors files.</param>
/// <param name="CheckpointBytes">Logical bytes of all files.</param>
/// <param name="Layer">MoE layer loaded.</param>
/// <param name="Expert">Expert loaded.</param>
/// <param name="ExpertBytes">Bytes of the expert's three tensors.</param>
/// <param name="ResidentBeforeBytes">Page-cache bytes of the checkpoint after eviction, before loading (always 0: the benchmark refuses to measure otherwise).</param>
/// <param name="ResidentAfterBytes">Page-cache bytes of the checkpoint after loading the expert.</param>
/// <param name="TouchedBytes">ResidentAfterBytes − ResidentBeforeBytes.</param>
/// <param name="LoadMs">Milliseconds to load the expert (opening included).</param>
public sealed record LoadBenchResult(string Preset, int Files, long CheckpointBytes, int Layer, int Expert, long ExpertBytes, long ResidentBeforeBytes, long ResidentAfterBytes, long TouchedBytes, double LoadMs);

/// <summary>
/// Shows that loading one expert from a multi-gigabyte checkpoint touches only that expert's bytes: writes the
/// preset's checkpoint with every routed expert as a sparse hole except the one to load, drops the files from the
/// page cache, checks with <c>mincore</c> that none of the checkpoint is resident (and the checkpoint is opened only
/// after that, so no weights are loaded either), loads the expert, and counts the checkpoint's resident pages again.
/// </summary>
internal static class LoadBenchmark
{
    /// <summary>Evictions tried before the benchmark gives up on a checkpoint that stays resident.</summary>
    private const int EvictionAttempts = 3;

    public static LoadBenchResult Run(string preset, int layer, int expert, string workDir)
    {
        var (spec, vocabulary) = SyntheticModelPresets.Get(preset);
        var dir = Path.Combine(workDir, $"moecloud-bench-load-{Environment.ProcessId}");
        try
        {
            var summary = SyntheticModelWriter.Write(dir, spec, vocabulary, new SyntheticModelOptions { SparseExperts = true, DenseExperts = new HashSet<(int, int)> { (layer, expert) } });
            long Resident() => summary.Files.Sum(PageCache.ResidentBytes);
            EvictAll(summary.Files, PageCache.Evict, PageCache.ResidentBytes);
            var before = Resident();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using (var checkpoint = ModelCheckpoint.Open(dir))
            {
                var weights = checkpoint.LoadExpert(layer, expert);
                sw.Stop();
                if (weights.ToF32().GateUp.All(v => v == 0))
                {
                    throw new InvalidOperationException("the loaded expert is all zeros: the benchmark loaded a hole, not the written expert");
                }
            }

            var after = Resident();
            return new LoadBenchResult(preset, summary.Files.Count, summary.LogicalBytes, layer, expert, spec.ExpertBytes(spec.DType == WeightDType.BF16 ? WeightDType.BF16 : WeightDType.F32), before, after, after - before, sw.Elapsed.TotalMilliseconds);
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>
    /// Drops every file from the page cache and checks that nothing of them is resident, trying again (a page still
    /// under writeback survives one eviction) up to <see cref="EvictionAttempts"/> times; throws
    /// <see cref="InvalidOperationException"/> naming what stayed resident, because a load measured then would count
    /// pages that were already there.
    /// </summary>
    internal static void EvictAll(IReadOnlyList<string> files, Action<string> evict, Func<string, long> residentBytes)
    {
        IReadOnlyList<(string File, long Bytes)> resident = [];
        for (var attempt = 0; attempt < EvictionAttempts; attempt++)
        {
            foreach (var file in files)
            {
                evict(file);
            }

            resident = files.Select(f => (File: f, Bytes: residentBytes(f))).Where(r => r.Bytes > 0).ToArray();
            if (resident.Count == 0)
            {
                return;
            }
        }

        throw new InvalidOperationException(
            $"the checkpoint is still in the page cache after {EvictionAttempts} evictions ({string.Join(", ", resident.Select(r => $"{Path.GetFileName(r.File)}: {r.Bytes} bytes"))}), " +
            "so the load could not be measured from disk; the work directory's filesystem may not drop pages (tmpfs, some overlay or network filesystems): pass --work-dir on a disk-backed filesystem");
    }
}
