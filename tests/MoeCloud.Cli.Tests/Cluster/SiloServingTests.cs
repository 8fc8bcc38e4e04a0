using MoeCloud.Cli.Cluster;

namespace MoeCloud.Cli.Tests.Cluster;

public sealed class SiloServingTests
{
    [Fact]
    public void Sum_WhenAnExpositionHasBothCountersOfSeveralModels_AddsTheModelsOkRequestsAndKernelTokensOnly()
    {
        const string exposition = """
            # HELP moecloud_silo_requests_total Request steps run by this silo's runner.
            # TYPE moecloud_silo_requests_total counter
            moecloud_silo_requests_total{model="tiny",outcome="ok"} 3
            moecloud_silo_requests_total{model="tiny",outcome="deadline"} 5
            moecloud_silo_requests_total{model="other",outcome="ok"} 7
            moecloud_silo_kernel_tokens_total{model="tiny"} 40
            moecloud_silo_kernel_tokens_total{model="other"} 11
            moecloud_silo_tokens_total{model="tiny"} 1000
            moecloud_silo_warmups_total{model="tiny",outcome="ok"} 24
            """;

        Assert.Equal(43, SiloServing.Sum(exposition, "tiny"));
    }
}
