using MoeCloud.Abstractions;

namespace MoeCloud.Runtime.Tests.Serving;

/// <summary>A pod checks the layer work it is sent before it touches a weight; each malformed part gets its own error.</summary>
public sealed class LayerWorkTests
{
    private const int Experts = 8, Hidden = 4;

    private static LayerWork Valid() => new("m", 0, 1, new RowPool().RentCleared(2, Hidden), [1, 3], [0, 2, 3], [0, 1, 1], [0.5f, 0.25f, 1f]);

    private static LayerWork Disposed()
    {
        var work = Valid();
        work.Rows.Dispose();
        return work;
    }

    [Fact]
    public void Validate_WhenWellFormed_Passes() => Valid().Validate(Experts, Hidden);

    public static TheoryData<string, LayerWork> Malformed => new()
    {
        { "hidden size 4; the model's is 8", Valid() },
        { "has rows that went back to their pool", Disposed() },
        { "need 3 group starts", Valid() with { GroupStarts = [0, 3] } },
        { "one weight per entry", Valid() with { EntryWeights = [1f] } },
        { "must name an expert in [0, 8)", Valid() with { Experts = [1, 8] } },
        { "must name an expert in [0, 8) above the previous group's", Valid() with { Experts = [3, 1] } },
        { "with at least one entry", Valid() with { GroupStarts = [0, 0, 3] } },
        { "entry row 2 is outside the 2 rows sent", Valid() with { EntryRows = [0, 1, 2] } },
        { "lacks its expert groups", Valid() with { EntryRows = null! } },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Validate_WhenMalformed_ThrowsNamingTheProblem(string problem, LayerWork work)
    {
        var hidden = problem.StartsWith("hidden size", StringComparison.Ordinal) ? 2 * Hidden : Hidden;

        var error = Assert.Throws<ArgumentException>(() => work.Validate(Experts, hidden));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
    }
}
