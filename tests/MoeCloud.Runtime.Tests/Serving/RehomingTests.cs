using Grpc.Net.Client;
using MoeCloud.Abstractions;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;
using MoeCloud.Model.Forward;
using MoeCloud.Model.Kernels;
using MoeCloud.Model.Synthetic;
using MoeCloud.Model.Traces;
using MoeCloud.Model.Weights;
using MoeCloud.Placement.Profiles;
using MoeCloud.Placement.Simulation;
using MoeCloud.Runtime.Hosting;
using MoeCloud.Runtime.Plans;
using MoeCloud.Testing;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>
/// The runner's re-homing against <c>moectl simulate --rehome</c>: a trace recorded from the tiny model is replayed
/// with forced routing straight to each token's first home (token t on pod t mod 3) on a cluster whose silos re-home
/// with the trace's transition statistics; the dispatch counts must be the simulator's, exactly, and every result the
/// reference's. The same cluster serves the model a second time under a name without a profile trace: no re-homing,
/// and the counts equal the simulator's without it.
/// </summary>
public sealed class RehomingTests
{
    private const int Pods = 3;

    [Fact]
    public async Task LiveDispatchCounts_WithAndWithoutRehoming_EqualTheSimulatorsOnTheSameHomesPlanAndTrace()
    {
        using var dir = new TempDirectory();
        var (spec, vocab) = SyntheticModelPresets.Get("tiny");
        var modelDir = dir.Combine("model");
        SyntheticModelWriter.Write(modelDir, spec, vocab, new SyntheticModelOptions { Seed = 7 });
        ReferenceForward reference;
        RoutingTrace trace;
        using (var checkpoint = ModelCheckpoint.Open(modelDir))
        {
            reference = new ReferenceForward(InMemoryModel.Load(checkpoint), new CpuExpertKernel(new ExpertKernelOptions { Threads = 1 }));
            trace = ModelTraceRecorder.Record(checkpoint, reference, new ModelTraceOptions { Tokens = 480, Sequences = 12, Seed = 3 }, "tiny");
        }

        var traceDir = dir.Combine("trace");
        TraceDirectory.Write(traceDir, trace);
        await using var cluster = await EmbeddedCluster.Start(Pods, new Dictionary<string, string> { ["rehomed"] = modelDir, ["plain"] = modelDir }, configure: o =>
        {
            o.Rehome = true;
            o.ProfileTraces["rehomed"] = traceDir;
        });
        WirePlan Plan(string model) => WirePlan.FromAssignment(model, 1, Pods, spec.MoeLayers, spec.Experts, (l, e) => e == 0 ? [0, 1, 2] : [(e + l) % Pods]);
        await cluster.Publish(Plan("rehomed"));
        await cluster.Publish(Plan("plain"));
        var channels = cluster.Silos.Select(s => GrpcChannel.ForAddress(s.RunnerAddress)).ToArray();
        try
        {
            var homes = Enumerable.Range(0, trace.Tokens).Select(t => t % Pods).ToArray();
            var transitions = TransitionModel.FromProfile(WorkloadProfile.FromTrace(trace, sampleCap: 0));
            foreach (var (model, rehome) in new[] { ("rehomed", true), ("plain", false) })
            {
                var expected = Simulator.Run(ServingPlan.From(Plan(model)).Plan, trace, homes, new SimulationOptions { Rehome = rehome }, transitions);
                long local = 0, remote = 0;
                for (var pod = 0; pod < Pods; pod++)
                {
                    var runner = new MoeService.MoeServiceClient(channels[pod]);
                    foreach (var chunk in Enumerable.Range(0, trace.Tokens).Where(t => homes[t] == pod).Chunk(16))
                    {
                        var (request, hidden, forced) = Replay(model, trace, chunk, spec.Hidden, seed: chunk[0]);
                        var response = await runner.ForwardAsync(request);
                        local += response.LocalDispatches;
                        remote += response.RemoteDispatches;
                        var error = RequestFactory.MaxRelativeError(reference.ForwardStack(0, trace.Layers - 1, hidden, chunk.Length, forced), TensorCodec.ReadMatrix(response.Hidden).Values);
                        Assert.True(error <= 1e-4, $"{model}: tokens from {chunk[0]} on pod {pod}: max relative error {error}");
                    }
                }

                Assert.True(!rehome || expected.Rehomes > 0, "the simulator re-homes no token on this trace and plan; the test would not exercise re-homing");
                Assert.Equal((expected.Dispatches, expected.RemoteDispatches), (local + remote, remote));
            }
        }
        finally
        {
            foreach (var c in channels)
            {
                c.Dispose();
            }
        }
    }

    private static (ForwardRequest Request, float[] Hidden, RoutingAssignment[] Forced) Replay(string model, RoutingTrace trace, int[] tokens, int hiddenSize, int seed)
    {
        int n = tokens.Length, layers = trace.Layers, k = trace.TopK;
        var ids = new int[n * layers * k];
        var weights = new float[ids.Length];
        var forced = new RoutingAssignment[layers];
        for (var l = 0; l < layers; l++)
        {
            var lids = new int[n * k];
            var lw = new float[n * k];
            for (var t = 0; t < n; t++)
            {
                for (var s = 0; s < k; s++)
                {
                    var i = trace.Index(tokens[t], l, s);
                    lids[(t * k) + s] = ids[(((t * layers) + l) * k) + s] = trace.ExpertIds[i];
                    lw[(t * k) + s] = weights[(((t * layers) + l) * k) + s] = trace.GateWeights?[i] ?? 1f / k;
                }
            }

            forced[l] = new RoutingAssignment(n, k, lids, lw);
        }

        var hidden = RequestFactory.Hidden(n, hiddenSize, seed);
        var request = RequestFactory.Forward(model, 0, layers - 1, hidden, n, hiddenSize);
        request.Routing = TensorCodec.WriteRouting(ids, weights, k);
        return (request, hidden, forced);
    }
}
