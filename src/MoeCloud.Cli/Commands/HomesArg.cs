using MoeCloud.Cli.Hosting;
using MoeCloud.Gateway.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>The <c>--homes token|request|auto</c> option of the commands that start a gateway: its <see cref="HomeGranularity"/>.</summary>
internal static class HomesArg
{
    /// <summary>What the option's help says it takes.</summary>
    public const string Help = "token: each token on its own home, the request split by home; request: each request homed whole; auto: per request, whichever costs less on the loopback link (a split pays only when its saved remote dispatches outweigh the messages it adds)";

    /// <summary><c>--homes</c>: <see cref="HomeGranularity.Token"/> (default <paramref name="fallback"/>), <see cref="HomeGranularity.Request"/> or <see cref="HomeGranularity.Auto"/>.</summary>
    public static HomeGranularity Parse(CliArgs args, string fallback = "token") =>
        args.GetChoice("homes", fallback, "token", "request", "auto") switch
        {
            "request" => HomeGranularity.Request,
            "auto" => HomeGranularity.Auto,
            _ => HomeGranularity.Token,
        };

    /// <summary><c>token</c>, <c>request</c> or <c>auto</c>, as the option and the commands' JSON spell it.</summary>
    public static string Name(HomeGranularity homes) => homes switch
    {
        HomeGranularity.Request => "request",
        HomeGranularity.Auto => "auto",
        _ => "token",
    };
}
