using System.Runtime.InteropServices;
using MoeCloud.Cli.Hosting;
using MoeCloud.Model.Kernels;

// Before anything loads OpenBLAS or starts threads: its idle threads spin for 2^18 cycles, not about 0.1 s, unless the
// user set OPENBLAS_THREAD_TIMEOUT. This process is moectl, every silo process that moectl starts and the gateway
// image's entry point; the silo image's entry point, MoeCloud.Silo, does the same.
OpenBlas.PreferShortIdleSpin();

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
