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

// Progress bars only where a person watches standard error; a pipe, a file or a dumb terminal gets plain lines.
var errorIsTerminal = !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";
return await Moectl.CreateDefault().RunAsync(args, new CliConsole(Console.Out, Console.Error, errorIsTerminal), cancel.Token);
