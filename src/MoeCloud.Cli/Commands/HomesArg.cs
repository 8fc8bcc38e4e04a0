using MoeCloud.Cli.Hosting;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>The <c>--homes token|request</c> option of the commands that start a gateway: its <see cref="HomeGranularity"/>.</summary>
internal static class HomesArg
{
    /// <summary><c>--homes</c>: <see cref="HomeGranularity.Token"/> (default) or <see cref="HomeGranularity.Request"/>.</summary>
    public static HomeGranularity Parse(CliArgs args) =>
        args.GetChoice("homes", "token", "token", "request") == "request" ? HomeGranularity.Request : HomeGranularity.Token;

    /// <summary><c>token</c> or <c>request</c>, as the option and the commands' JSON spell it.</summary>
    public static string Name(HomeGranularity homes) => homes == HomeGranularity.Request ? "request" : "token";
}
