using System.Net.Http.Json;
using System.Text.Json;
using MoeCloud.Client;
using MoeCloud.Model.Spec;

namespace MoeCloud.Gateway.Tests.Api;

/// <summary>The model info's gating, on the JSON API and on gRPC, is a structured object, never a record's ToString().</summary>
[Collection(GatewayCollection.Name)]
public sealed class ModelInfoGatingTests(GatewayFixture fixture)
{
    [Fact]
    public async Task JsonGetModel_Gating_IsAnObjectWithEveryGatingField()
    {
        var expected = fixture.Reference.Model.Spec.Gating;
        using var http = new HttpClient { BaseAddress = fixture.Http };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.ApiKey);

        var model = await http.GetFromJsonAsync<JsonElement>($"/v1/models/{GatewayFixture.Model}");

        var gating = model.GetProperty("gating");
        Assert.Equal(JsonValueKind.Object, gating.ValueKind);
        Assert.Equal(expected.Name, gating.GetProperty("name").GetString());
        Assert.Equal(expected.Scoring == GateScoring.Softmax ? "softmax" : "sigmoid", gating.GetProperty("scoring").GetString());
        Assert.Equal(expected.NormalizeTopK, gating.GetProperty("normalizeTopK").GetBoolean());
        Assert.Equal(expected.RoutedScalingFactor, gating.GetProperty("routedScalingFactor").GetDouble());
        Assert.Equal(expected.SelectionBias, gating.GetProperty("selectionBias").GetBoolean());
        Assert.Equal(KebabName(expected.GroupSelection), gating.GetProperty("groupSelection").GetString());
        Assert.Equal(expected.Groups, gating.GetProperty("groups").GetInt32());
        Assert.Equal(expected.TopKGroups, gating.GetProperty("topKGroups").GetInt32());
        Assert.DoesNotContain("GatingSpec", model.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GrpcGetModel_Gating_HasStructuredFields()
    {
        var expected = fixture.Reference.Model.Spec.Gating;
        using var client = new MoeCloudClient(fixture.Grpc, new MoeCloudClientOptions { ApiKey = GatewayFixture.ApiKey });

        var info = await client.GetModelAsync(GatewayFixture.Model);

        Assert.NotNull(info.Gating);
        Assert.Equal(expected.Name, info.Gating.Name);
        Assert.Equal(expected.Scoring == GateScoring.Softmax ? "softmax" : "sigmoid", info.Gating.Scoring);
        Assert.Equal(expected.NormalizeTopK, info.Gating.NormalizeTopK);
        Assert.Equal(expected.RoutedScalingFactor, info.Gating.RoutedScalingFactor);
        Assert.Equal(expected.SelectionBias, info.Gating.SelectionBias);
        Assert.Equal(KebabName(expected.GroupSelection), info.Gating.GroupSelection);
        Assert.Equal((expected.Groups, expected.TopKGroups), (info.Gating.Groups, info.Gating.TopKGroups));
    }

    private static string KebabName(GroupSelection selection) => selection switch
    {
        GroupSelection.None => "none",
        GroupSelection.MaxScore => "max-score",
        GroupSelection.TopTwoSum => "top-two-sum",
        _ => "balanced",
    };
}
