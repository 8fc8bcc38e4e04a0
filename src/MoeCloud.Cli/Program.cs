using System.Runtime.InteropServices;
using MoeCloud.Cli.Hosting;

// Ctrl-C (SIGINT) and SIGTERM both cancel the command, which then stops what it started (moectl up: the gateway, the
// silos, redis-server). Without the SIGTERM registration the hosts that moectl starts would take the signal for
// themselves and moectl would never stop.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    cancel.Cancel();
});

// Started as kubectl-moe (kubectl runs the plugin by that name from the PATH), the arguments are a kube command's.
var arguments = MoeCloud.Cli.Kube.KubectlPlugin.Arguments(MoeCloud.Cli.Kube.KubectlPlugin.InvokedAs(), args);

// Progress bars only where a person watches standard error; a pipe, a file or a dumb terminal gets plain lines.
var errorIsTerminal = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";
return await Moectl.CreateDefault().RunAsync(arguments, new CliConsole(Console.Out, Console.Error, errorIsTerminal), cancel.Token);
