using System.Text.Json;
using MoeCloud.Contracts.Models;
using MoeCloud.Model.Spec;

namespace MoeCloud.Contracts.Tests.Models;

public sealed class ModelInfosTests
{
    [Fact]
    public void Gating_OfAGroupedSigmoidGate_CarriesEveryField()
    {
        var gating = new GatingSpec { Scoring = GateScoring.Sigmoid, NormalizeTopK = true, RoutedScalingFactor = 2.5, SelectionBias = true, GroupSelection = GroupSelection.TopTwoSum, Groups = 8, TopKGroups = 4 };

        var wire = ModelInfos.Gating(gating);

        Assert.Equal(("sigmoid-topk", "sigmoid", true, 2.5, true, "top-two-sum", 8, 4), (wire.Name, wire.Scoring, wire.NormalizeTopK, wire.RoutedScalingFactor, wire.SelectionBias, wire.GroupSelection, wire.Groups, wire.TopKGroups));
    }

    [Theory]
    [InlineData(GroupSelection.None, "none")]
    [InlineData(GroupSelection.MaxScore, "max-score")]
    [InlineData(GroupSelection.TopTwoSum, "top-two-sum")]
    [InlineData(GroupSelection.Balanced, "balanced")]
    public void Gating_GroupSelection_IsSpelledInKebabCase(GroupSelection selection, string expected) =>
        Assert.Equal(expected, ModelInfos.Gating(new GatingSpec { GroupSelection = selection }).GroupSelection);

    [Fact]
    public void JsonGating_Serialised_IsAnObjectWithCamelCaseFields()
    {
        var json = JsonSerializer.SerializeToElement(JsonGating.From(ModelInfos.Gating(new GatingSpec { GroupSelection = GroupSelection.MaxScore, Groups = 8, TopKGroups = 3, RoutedScalingFactor = 16 })), new JsonSerializerOptions(JsonSerializerDefaults.Web));

        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        Assert.Equal("softmax", json.GetProperty("scoring").GetString());
        Assert.Equal("max-score", json.GetProperty("groupSelection").GetString());
        Assert.Equal(16, json.GetProperty("routedScalingFactor").GetDouble());
        Assert.Equal(3, json.GetProperty("topKGroups").GetInt32());
    }
}
