using Microsoft.Extensions.Options;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Weights;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Serving;
using MoeCloud.Runtime.Telemetry;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Serving;

public sealed class ExpertExecutorTests
{
    [Fact]
    public async Task Run_WorkArrivingWhileALayerComputes_LeavesAsOneBatchWithOneKernelCallPerExpert()
    {
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        SyntheticModelWriter.Write(dir.Combine("m"), spec, vocab, new SyntheticModelOptions { Seed = 3 });
        var kernel = new GatedKernel(new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
        using var model = ServedModel.Open("m", dir.Combine("m"), kernel);
        var metrics = new SiloMetrics();
        var executor = new ExpertExecutor(new LocalExperts(), grains: null!, metrics, Options.Create(new MoeCloudSiloOptions()));
        var h = spec.Hidden;
        var weights = Enumerable.Range(0, spec.Experts).Select(e => model.LoadExpert(0, e)).ToArray();

        // Three steps' work for layer 0: experts {1, 2}, {2, 5} and {1, 5, 6}, two rows each.
        int[][] experts = [[1, 2], [2, 5], [1, 5, 6]];
        var works = experts.Select((list, i) =>
        {
            var x = RequestFactory.Hidden(2, h, seed: 20 + i);
            var starts = Enumerable.Range(0, list.Length + 1).Select(g => g * 2).ToArray();
            var rows = list.SelectMany(_ => new[] { 0, 1 }).ToArray();
            var gate = list.SelectMany((_, g) => new[] { 0.5f + (0.1f * g), 0.25f }).ToArray();
            return (Experts: list, Starts: starts, Rows: rows, Gate: gate, X: x, Y: new float[2 * h]);
        }).ToArray();
        Task Start(int i) => executor.Run(model, 0, 0, works[i].Experts, [.. works[i].Experts.Select(e => weights[e])], works[i].Starts, works[i].Rows, works[i].Gate, works[i].X, works[i].Y);

        var first = Task.Run(() => Start(0));
        await kernel.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var queued = new[] { Start(1), Start(2) };
        kernel.Release();
        await Task.WhenAll([first, .. queued]);

        Assert.Equal(2, executor.Batches);
        Assert.Equal(2 + 4, metrics.ExpertCalls.Value); // {1, 2} alone, then {1, 2, 5, 6} once each for both queued steps; uncoalesced it would be 2 + 2 + 3
        var reference = new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 });
        foreach (var w in works)
        {
            var expected = new float[2 * h];
            var one = new float[h];
            for (var g = 0; g < w.Experts.Length; g++)
            {
                for (var r = 0; r < 2; r++)
                {
                    reference.Forward(weights[w.Experts[g]], w.X.AsSpan(r * h, h), one, 1);
                    VectorMath.MultiplyAdd(one, w.Gate[(g * 2) + r], expected.AsSpan(r * h, h));
                }
            }

            Assert.True(RequestFactory.MaxRelativeError(expected, w.Y) <= 1e-5, $"experts {string.Join(",", w.Experts)}: error {RequestFactory.MaxRelativeError(expected, w.Y)}");
        }
    }

    /// <summary>The CPU kernel, held at its first call until <see cref="Release"/>.</summary>
    private sealed class GatedKernel(IExpertKernel inner) : IExpertKernel
    {
        private readonly SemaphoreSlim _gate = new(0);
        private int _calls;

        public SemaphoreSlim Entered { get; } = new(0);

        public string Name => inner.Name;

        public void Release() => _gate.Release();

        public void Forward(ExpertWeights weights, ReadOnlySpan<float> x, Span<float> y, int tokens)
        {
            if (Interlocked.Increment(ref _calls) == 1)
            {
                Entered.Release();
                _gate.Wait();
            }

            inner.Forward(weights, x, y, tokens);
        }
    }
}
