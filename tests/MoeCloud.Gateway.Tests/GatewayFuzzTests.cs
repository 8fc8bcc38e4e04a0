using System.Net;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using MoeCloud.Contracts.Protos;
using MoeCloud.Contracts.Tensors;

namespace MoeCloud.Gateway.Tests;

[Collection(GatewayCollection.Name)]
public sealed class GatewayFuzzTests(GatewayFixture fixture)
{
    private int HiddenSize => fixture.Reference.Model.Spec.Hidden;

    [Fact]
    public async Task Grpc_WhenRequestsAreMalformed_AnswersTheRightCodesAndKeepsServing()
    {
        using var channel = GrpcChannel.ForAddress(fixture.Grpc, new GrpcChannelOptions { MaxSendMessageSize = 64 << 20 });
        var client = new MoeService.MoeServiceClient(channel);
        var key = new Metadata { { "x-api-key", GatewayFixture.ApiKey } };
        ForwardRequest Good(int tokens = 2) => new() { Model = GatewayFixture.Model, FirstLayer = 0, LastLayer = 1, Hidden = TensorCodec.WriteMatrix(GatewayFixture.Hidden(tokens, HiddenSize, 1), tokens, HiddenSize) };
        var nan = GatewayFixture.Hidden(2, HiddenSize, 1);
        nan[5] = float.NaN;
        var inf = GatewayFixture.Hidden(2, HiddenSize, 1);
        inf[9] = float.NegativeInfinity;
        var cases = new (string Name, ForwardRequest Request, Metadata Headers, StatusCode Expected)[]
        {
            ("wrong shape", Good(), key, StatusCode.InvalidArgument),
            ("truncated data", Good(), key, StatusCode.InvalidArgument),
            ("NaN", Good() , key, StatusCode.InvalidArgument),
            ("Inf", Good(), key, StatusCode.InvalidArgument),
            ("empty batch", Good(), key, StatusCode.InvalidArgument),
            ("unknown model", Good(), key, StatusCode.NotFound),
            ("too many tokens", Good(600), key, StatusCode.ResourceExhausted),
            ("oversized message", Good(), key, StatusCode.ResourceExhausted),
            ("no key", Good(), [], StatusCode.Unauthenticated),
            ("layer out of range", Good(), key, StatusCode.InvalidArgument),
        };
        cases[0].Request.Hidden = TensorCodec.WriteMatrix(GatewayFixture.Hidden(2, HiddenSize + 3, 1), 2, HiddenSize + 3);
        cases[1].Request.Hidden.Data = ByteString.CopyFrom(cases[1].Request.Hidden.Data.Span[..^2]);
        cases[2].Request.Hidden = TensorCodec.WriteMatrix(nan, 2, HiddenSize);
        cases[3].Request.Hidden = TensorCodec.WriteMatrix(inf, 2, HiddenSize);
        cases[4].Request.Hidden = TensorCodec.WriteMatrix([], 0, HiddenSize);
        cases[5].Request.Model = "no-such-model";
        cases[7].Request.Hidden = TensorCodec.WriteMatrix(new float[5 << 18], 5 << 18 >> 6, 64);
        cases[9].Request.LastLayer = 40;

        foreach (var (name, request, headers, expected) in cases)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => client.ForwardAsync(request, headers).ResponseAsync);
            Assert.True(expected == e.StatusCode, $"{name}: expected {expected}, got {e.StatusCode} ({e.Status.Detail})");
        }

        // Random mutations of a good request: never an internal error.
        var rng = new Random(42);
        for (var i = 0; i < 40; i++)
        {
            var request = Good(1 + rng.Next(4));
            switch (rng.Next(5))
            {
                case 0: request.Hidden.Shape[rng.Next(2)] = rng.Next(-3, 200); break;
                case 1: request.FirstLayer = rng.Next(-2, 6); break;
                case 2: request.Routing = new ForcedRouting { TopK = rng.Next(0, 4), ExpertIds = ByteString.CopyFrom(RandomBytes(rng, rng.Next(0, 64))), Weights = ByteString.CopyFrom(RandomBytes(rng, rng.Next(0, 64))) }; break;
                case 3: request.Hidden.Data = ByteString.CopyFrom(RandomBytes(rng, request.Hidden.Data.Length)); break;
                default: request.Model = rng.Next(2) == 0 ? "" : "x"; break;
            }

            try
            {
                await client.ForwardAsync(request, key);
            }
            catch (RpcException e)
            {
                Assert.Contains(e.StatusCode, new[] { StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.ResourceExhausted });
            }
        }

        var ok = await client.ForwardAsync(Good(), key);
        Assert.Equal(2, ok.HomePods.Count);
    }

    [Fact]
    public async Task Json_WhenBodiesAreMalformed_AnswersProblemsAndKeepsServing()
    {
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.ApiKey);
        var row = string.Join(",", Enumerable.Repeat("0.5", HiddenSize));
        var cases = new (string Name, string Model, byte[] Body, HttpStatusCode Expected)[]
        {
            ("random bytes", GatewayFixture.Model, RandomBytes(new Random(1), 300), HttpStatusCode.BadRequest),
            ("wrong row length", GatewayFixture.Model, Encoding.UTF8.GetBytes("{\"hidden\": [[1, 2, 3]]}"), HttpStatusCode.BadRequest),
            ("NaN literal", GatewayFixture.Model, Encoding.UTF8.GetBytes($"{{\"hidden\": [[NaN, {row[4..]}]]}}"), HttpStatusCode.BadRequest),
            ("NaN string", GatewayFixture.Model, Encoding.UTF8.GetBytes($"{{\"hidden\": [[\"NaN\", {row[4..]}]]}}"), HttpStatusCode.BadRequest),
            ("huge number", GatewayFixture.Model, Encoding.UTF8.GetBytes($"{{\"hidden\": [[1e39, {row[4..]}]]}}"), HttpStatusCode.BadRequest),
            ("empty batch", GatewayFixture.Model, Encoding.UTF8.GetBytes("{\"hidden\": []}"), HttpStatusCode.BadRequest),
            ("unknown model", "nope", Encoding.UTF8.GetBytes($"{{\"hidden\": [[{row}]]}}"), HttpStatusCode.NotFound),
            ("too many tokens", GatewayFixture.Model, Encoding.UTF8.GetBytes($"{{\"hidden\": [{string.Join(",", Enumerable.Repeat($"[{row}]", 600))}]}}"), (HttpStatusCode)429),
            ("oversized body", GatewayFixture.Model, new byte[5 << 20], HttpStatusCode.RequestEntityTooLarge),
            ("bad routing", GatewayFixture.Model, Encoding.UTF8.GetBytes($"{{\"hidden\": [[{row}]], \"routing\": {{\"topK\": 2, \"expertIds\": [[[0]]], \"weights\": [[[1]]]}}}}"), HttpStatusCode.BadRequest),
        };

        foreach (var (name, model, body, expected) in cases)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            using var post = new HttpRequestMessage(HttpMethod.Post, $"/v1/models/{model}:forward") { Content = content };
            post.Headers.ExpectContinue = true; // the server refuses an oversized body before the client sends it
            var response = await http.SendAsync(post);
            Assert.True(expected == response.StatusCode, $"{name}: expected {expected}, got {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        using var good = new StringContent($"{{\"hidden\": [[{row}]]}}", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"/v1/models/{GatewayFixture.Model}:forward", good)).StatusCode);
    }

    private static byte[] RandomBytes(Random rng, int count)
    {
        var bytes = new byte[count];
        rng.NextBytes(bytes);
        return bytes;
    }
}
