using MoeCloud.Model.Kernels;

namespace MoeCloud.Model.Tests.Kernels;

public sealed class OpenBlasIdleSpinTests
{
    [Fact]
    public void ThreadTimeoutToSet_WhenNeitherVariableIsSet_IsThePreferredTimeout()
    {
        Assert.Equal("18", OpenBlas.ThreadTimeoutToSet(null, null));
        Assert.Equal("18", OpenBlas.ThreadTimeoutToSet(string.Empty, string.Empty));
        Assert.Equal(18, OpenBlas.PreferredThreadTimeout);
    }

    [Theory]
    [InlineData("25", null)]
    [InlineData(null, "7")]
    [InlineData("30", "4")]
    public void ThreadTimeoutToSet_WhenTheUserSetEitherVariable_IsNullSoTheirsIsKept(string? threadTimeout, string? legacy)
    {
        Assert.Null(OpenBlas.ThreadTimeoutToSet(threadTimeout, legacy));
    }
}
