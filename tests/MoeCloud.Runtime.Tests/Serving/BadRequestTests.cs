using Google.Protobuf;
using Grpc.Core;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;

namespace MoeCloud.Runtime.Tests.Serving;

[Collection(ClusterCollection.Name)]
public sealed class BadRequestTests(ClusterFixture fixture)
{
    private int Hidden => fixture.Reference.Model.Spec.Hidden;

    public static TheoryData<string> Cases() => ["unknown-model", "wrong-shape", "truncated-bytes", "nan", "infinity", "empty-batch", "layer-range", "reversed-range", "forced-expert", "forced-nan", "forced-length", "no-hidden", "oversized"];

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Forward_WhenRequestIsBad_GetsTheRightStatusAndThePodKeepsServing(string bad)
    {
        var request = RequestFactory.Forward(ClusterFixture.Model, 0, 1, RequestFactory.Hidden(2, Hidden, 1), 2, Hidden);
        var expected = StatusCode.InvalidArgument;
        switch (bad)
        {
            case "unknown-model":
                request.Model = "no-such-model";
                expected = StatusCode.NotFound;
                break;
            case "wrong-shape":
                request.Hidden = TensorCodec.WriteMatrix(RequestFactory.Hidden(2, Hidden + 1, 1), 2, Hidden + 1);
                break;
            case "truncated-bytes":
                request.Hidden.Data = ByteString.CopyFrom(request.Hidden.Data.Span[..^3]);
                break;
            case "nan":
            case "infinity":
                var values = RequestFactory.Hidden(2, Hidden, 1);
                values[Hidden + 3] = bad == "nan" ? float.NaN : float.PositiveInfinity;
                request.Hidden = TensorCodec.WriteMatrix(values, 2, Hidden);
                break;
            case "empty-batch":
                request.Hidden = TensorCodec.WriteMatrix([], 0, Hidden);
                break;
            case "layer-range":
                request.LastLayer = 99;
                break;
            case "reversed-range":
                request.FirstLayer = 2;
                request.LastLayer = 1;
                break;
            case "forced-expert":
            case "forced-nan":
            case "forced-length":
                var k = fixture.Reference.Model.Spec.TopK;
                var ids = new int[2 * 2 * k];
                var weights = Enumerable.Repeat(0.5f, ids.Length).ToArray();
                if (bad == "forced-expert")
                {
                    ids[3] = 1000;
                }
                else if (bad == "forced-nan")
                {
                    weights[1] = float.NaN;
                }
                else
                {
                    ids = ids[..^1];
                }

                request.Routing = TensorCodec.WriteRouting(ids, weights, k);
                break;
            case "no-hidden":
                request.Hidden = null;
                break;
            case "oversized":
                request.Hidden = TensorCodec.WriteMatrix(new float[70_000 * Hidden], 70_000, Hidden);
                expected = StatusCode.ResourceExhausted;
                break;
        }

        var error = await Assert.ThrowsAsync<RpcException>(() => fixture.Runner(0).ForwardAsync(request).ResponseAsync);

        Assert.Equal(expected, error.StatusCode);
        Assert.False(string.IsNullOrWhiteSpace(error.Status.Detail));
        var good = await fixture.Runner(0).ForwardAsync(RequestFactory.Forward(ClusterFixture.Model, 0, 1, RequestFactory.Hidden(2, Hidden, 2), 2, Hidden));
        Assert.Equal(2, good.Hidden.Shape[0]);
    }
}
