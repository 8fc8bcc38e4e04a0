using System.Text.Json;
using MoeCloud.Contracts.Admin;

namespace MoeCloud.Contracts.Tests.Admin;

public sealed class PlanPublicationTests
{
    private static readonly int[][][] Good = [[[0], [1, 0]], [[1], [0]]];

    [Fact]
    public void Json_WhenRoundTripped_KeepsEveryField_WithTheContractsNames()
    {
        var publication = new PlanPublication(3, 2, 2, Good, 4, 10);

        var json = JsonSerializer.Serialize(publication, AdminJson.Options);
        var back = JsonSerializer.Deserialize<PlanPublication>(json, AdminJson.Options)!;

        Assert.Contains("\"previousVersion\":2", json, StringComparison.Ordinal);
        Assert.Contains("\"drainSeconds\":10", json, StringComparison.Ordinal);
        Assert.Equal((3, 2, 2, 4, 10), (back.Version, back.PreviousVersion, back.Pods, back.BatchSize, back.DrainSeconds));
        Assert.Equal(Good, back.Assignment);
        Assert.Empty(back.Problems());
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { "version", "'version' must be at least 1 and above 'previousVersion'" },
        { "pods", "'pods' must be in [1, 4096]" },
        { "assignment", "'assignment' must be [layers][experts][pods]" },
        { "ragged", "'assignment' layer 1 must list the pods of each of the 2 experts" },
        { "batchSize", "'batchSize' must be in [1, 4096]" },
        { "drainSeconds", "'drainSeconds' must be in [0, 3600]" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public void Problems_WhenAFieldIsOutOfRange_NamesThatField(string field, string says)
    {
        var good = new PlanPublication(3, 2, 2, Good, 4, 10);
        var bad = field switch
        {
            "version" => good with { Version = 2 },
            "pods" => good with { Pods = 0 },
            "assignment" => good with { Assignment = null },
            "ragged" => good with { Assignment = [[[0], [1]], [[0]]] },
            "batchSize" => good with { BatchSize = 0 },
            _ => good with { DrainSeconds = 3601 },
        };

        Assert.Contains(bad.Problems(), p => p.Contains(says, StringComparison.Ordinal));
    }
}
