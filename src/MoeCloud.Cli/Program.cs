using MoeCloud.Cli.Hosting;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

return await Moectl.CreateDefault().RunAsync(args, new CliConsole(Console.Out, Console.Error), cancel.Token);
