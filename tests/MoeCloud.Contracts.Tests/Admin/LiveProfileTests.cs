using System.Runtime.InteropServices;
using System.Text.Json;
using MoeCloud.Contracts.Admin;

namespace MoeCloud.Contracts.Tests.Admin;

public sealed class LiveProfileTests
{
    private static readonly long[] Load = [1, 2, 3, 4, 4, 3, 2, 1];
    private static readonly long[] Transitions = [.. Enumerable.Range(0, 16).Select(i => (long)i)];
    private static readonly short[] Ids = [0, 1, 2, 3, 3, 2, 1, 0];

    private static LiveProfile Sample() => LiveProfile.Encode("m", 2, 4, 2, (5, 30, 10, 2),
        MemoryMarshal.AsBytes(Load.AsSpan()), MemoryMarshal.AsBytes(Transitions.AsSpan()), MemoryMarshal.AsBytes(Ids.AsSpan()));

    [Fact]
    public void EncodeThenJsonThenDecode_GivesBackTheCounts()
    {
        var json = JsonSerializer.Serialize(Sample(), AdminJson.Options);

        var body = JsonSerializer.Deserialize<LiveProfile>(json, AdminJson.Options)!;
        var counts = body.Decode();

        Assert.Equal(0.25, body.RemoteFraction);
        Assert.Equal((5L, 2L), (body.Tokens, body.WindowTokens));
        Assert.Equal(Load, counts.Load);
        Assert.Equal(Transitions, counts.Transitions);
        Assert.Equal(Ids, counts.SampleIds);
        Assert.Equal([0, 1], counts.SeqIds);
    }

    [Fact]
    public void Encode_WhenTheLoadIsNotLayersTimesExperts_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => LiveProfile.Encode("m", 2, 5, 2, (0, 0, 0, 0), MemoryMarshal.AsBytes(Load.AsSpan()), [], []));
        Assert.Contains("[2 layers, 5 experts] need 10", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { "shape", "'layers', 'experts' and 'topK' must be positive" },
        { "load", "'load' must be [2 layers][4 experts]" },
        { "negative", "'load' of layer 1 holds a negative count" },
        { "transitions", "'transitions' must hold 16 non-negative int64 counts" },
        { "base64", "'transitions' is not base64" },
        { "wholeValues", "'sample.expertIds' is not a whole number of Int16 values" },
        { "sampleLength", "'sample.expertIds' holds 8 ids; 1 tokens × 2 layers × top-2 need 4" },
        { "expert", "'sample.expertIds' names expert 9, outside 0..3" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public void Decode_WhenABodyIsMalformed_NamesTheField(string defect, string says)
    {
        var good = Sample();
        var bad = defect switch
        {
            "shape" => good with { TopK = 5 },
            "load" => good with { Load = [[1, 2, 3, 4]] },
            "negative" => good with { Load = [[1, 2, 3, 4], [1, -1, 1, 1]] },
            "transitions" => good with { Transitions = Convert.ToBase64String(new byte[8]) },
            "base64" => good with { Transitions = "not base64!" },
            "wholeValues" => good with { Sample = new LiveSample(Convert.ToBase64String(new byte[3]), [0]) },
            "sampleLength" => good with { Sample = good.Sample! with { SeqIds = [0] } },
            _ => good with { Sample = good.Sample! with { ExpertIds = Convert.ToBase64String(MemoryMarshal.AsBytes(new short[] { 0, 9, 2, 3, 3, 2, 1, 0 }.AsSpan())) } },
        };

        var e = Assert.Throws<FormatException>(bad.Decode);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }
}
