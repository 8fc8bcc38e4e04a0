using Microsoft.Extensions.Configuration;
using MoeCloud.Model.Kernels;
using MoeCloud.Runtime.Hosting;

// Before anything loads OpenBLAS or starts threads: its idle threads spin for 2^18 cycles, not about 0.1 s, unless the
// pod's environment sets OPENBLAS_THREAD_TIMEOUT.
OpenBlas.PreferShortIdleSpin();

// Configuration: appsettings.json, then environment variables (MoeCloud__Silo__PodIndex=3, ...), then command-line
// arguments (--MoeCloud:Silo:PodIndex=3). In Kubernetes the StatefulSet sets Clustering=Kubernetes and the pod index.
var configuration = new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json", optional: true)
    .AddEnvironmentVariables()
    .AddCommandLine(args)
    .Build();
var options = new MoeCloudSiloOptions();
configuration.GetSection(MoeCloudSiloOptions.Section).Bind(options);
// One set of admin keys per deployment: in a pod with the dashboard on, the operator passes the deployment's key Secret
// (<name>-gateway-keys, MoeCloud__Gateway__AdminKeys__N__Sha256), and those keys open the silo's dashboard too.
foreach (var key in configuration.GetSection("MoeCloud:Gateway:AdminKeys").GetChildren())
{
    if (key["Sha256"] is { Length: > 0 } sha256)
    {
        options.AdminKeySha256.Add(sha256);
    }
}

if (Environment.GetEnvironmentVariable("POD_NAME") is { } podName && MoeCloud.Abstractions.PodNames.PodOfSiloName(podName) is >= 0 and var ordinal)
{
    options.PodIndex = ordinal;
}

// In a pod the silo serves on the pod's IP (the runner, the probes on the ops port, and the address it advertises).
if (Environment.GetEnvironmentVariable("POD_IP") is { Length: > 0 } podIp && System.Net.IPAddress.TryParse(podIp, out _))
{
    options.AdvertisedAddress = podIp;
}

// SIGTERM (the kubelet) or Ctrl-C stops the host; the stop is bounded by MoeCloud:Silo:ShutdownTimeout (default 20 s)
// whether or not the membership store answers, and a host that has not stopped by then is abandoned: the process exits.
await using var app = MoeCloudSiloHost.Create(options, args: args);
await app.StartAsync();
var stopping = new TaskCompletionSource();
using (app.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult()))
{
    await stopping.Task;
}

if (!await SiloShutdown.Stop(app))
{
    Environment.Exit(1);
}
