using MoeCloud.Cli.Hosting;

namespace MoeCloud.Cli.Tests;

/// <summary>Runs moectl in-process and captures its output.</summary>
internal static class MoectlRunner
{
    public static async Task<(int Code, string Out, string Error)> Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Moectl.CreateDefault().RunAsync(args, new CliConsole(output, error));
        return (code, output.ToString(), error.ToString());
    }
}
