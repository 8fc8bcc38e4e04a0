using System.Buffers;
using System.Diagnostics;
using MoeCloud.Abstractions;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Telemetry;

namespace MoeCloud.Runtime.Serving;

/// <summary>
/// Runs expert groups on the replicas this silo holds, in process: the home pod's local experts and a remote pod's
/// layer work both come here. Per group it gathers the group's rows (only when there is more than one: a single row is
/// passed to the kernel in place), runs the kernel, and adds each output row, scaled by its gate weight, to the
/// group's row of <c>y</c>. Rows gathered for the kernel are counted in <c>moecloud_silo_activation_row_copies_total</c>.
/// </summary>
public sealed class ExpertExecutor(LocalExperts experts, IGrainFactory grains, SiloMetrics metrics)
{
    /// <summary>
    /// The weights of replica (<paramref name="layer"/>, e) @ <paramref name="pod"/> for each expert e of
    /// <paramref name="groupExperts"/>, activating through its grain any that this silo does not hold yet (a replica
    /// is activated by its first use, as a grain call would). Throws when a replica is activated but not on this silo.
    /// </summary>
    public async ValueTask<ExpertWeights[]> Resolve(string model, int layer, int pod, int expertsPerLayer, int[] groupExperts)
    {
        var resolved = new ExpertWeights[groupExperts.Length];
        var table = experts.Table(model, pod);
        List<int>? missing = null;
        for (var g = 0; g < groupExperts.Length; g++)
        {
            var w = table is null ? null : Volatile.Read(ref table[(layer * expertsPerLayer) + groupExperts[g]]);
            if (w is null)
            {
                (missing ??= []).Add(g);
            }
            else
            {
                resolved[g] = w;
            }
        }

        if (missing is null)
        {
            return resolved;
        }

        await Task.WhenAll(missing.Select(g => grains.GetGrain<IExpertGrain>(new ExpertReplicaKey(model, layer, groupExperts[g], pod).ToString()).Warm()));
        table = experts.Table(model, pod);
        foreach (var g in missing)
        {
            resolved[g] = (table is null ? null : Volatile.Read(ref table[(layer * expertsPerLayer) + groupExperts[g]]))
                ?? throw new InvalidOperationException($"Replica {new ExpertReplicaKey(model, layer, groupExperts[g], pod)} is active, but not on this silo: its pod has moved.");
        }

        return resolved;
    }

    /// <summary>Adds, for every entry, weight × expert(x[row]) to y[row]; <paramref name="weights"/> comes from <see cref="Resolve"/>.</summary>
    public void Compute(ServedModel model, ExpertWeights[] weights, int[] groupStarts, int[] entryRows, float[] entryWeights, ReadOnlySpan<float> x, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(groupStarts);
        ArgumentNullException.ThrowIfNull(entryRows);
        ArgumentNullException.ThrowIfNull(entryWeights);
        var h = model.Spec.Hidden;
        var most = 0;
        for (var g = 0; g < weights.Length; g++)
        {
            most = Math.Max(most, groupStarts[g + 1] - groupStarts[g]);
        }

        var input = ArrayPool<float>.Shared.Rent(most * h);
        var output = ArrayPool<float>.Shared.Rent(most * h);
        long copied = 0, tokens = 0;
        var started = Stopwatch.GetTimestamp();
        try
        {
            for (var g = 0; g < weights.Length; g++)
            {
                int first = groupStarts[g], count = groupStarts[g + 1] - first;
                ReadOnlySpan<float> rows;
                if (count == 1)
                {
                    rows = x.Slice(entryRows[first] * h, h);
                }
                else
                {
                    for (var i = 0; i < count; i++)
                    {
                        x.Slice(entryRows[first + i] * h, h).CopyTo(input.AsSpan(i * h, h));
                    }

                    rows = input.AsSpan(0, count * h);
                    copied += count;
                }

                var outputs = output.AsSpan(0, count * h);
                model.Kernel.Forward(weights[g], rows, outputs, count);
                for (var i = 0; i < count; i++)
                {
                    VectorMath.MultiplyAdd(outputs.Slice(i * h, h), entryWeights[first + i], y.Slice(entryRows[first + i] * h, h));
                }

                tokens += count;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(input);
            ArrayPool<float>.Shared.Return(output);
        }

        metrics.KernelSeconds.WithLabels(model.Name).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        metrics.KernelTokens.WithLabels(model.Name).Inc(tokens);
        metrics.ExpertCalls.Inc(weights.Length);
        metrics.ActivationCopies.WithLabels(model.Name).Inc(copied);
    }
}
