using k8s;
using MoeCloud.Cli.Hosting;

namespace MoeCloud.Cli.Kube;

/// <summary>
/// The Kubernetes cluster a <c>moectl kube …</c> command (<c>kubectl moe …</c>) talks to, chosen as kubectl chooses it:
/// <c>--kubeconfig</c>, else <c>$KUBECONFIG</c> (its first file), else <c>~/.kube/config</c>; <c>--context</c>, else the
/// file's current context; <c>--namespace</c>, else the context's namespace, else <c>default</c>. kubectl passes none of
/// its own flags to a plugin, so the plugin reads the same sources itself.
/// </summary>
/// <param name="Client">The API client.</param>
/// <param name="Namespace">The namespace the command works in.</param>
internal sealed record KubeConnection(IKubernetes Client, string Namespace) : IDisposable
{
    /// <summary>The options every kube command takes.</summary>
    public static IReadOnlyList<CliOption> Options { get; } =
    [
        new("kubeconfig", "<file>  kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)"),
        new("context", "<name>  kubeconfig context (default: the current context)"),
        new("namespace", "<ns>  namespace (default: the context's, else 'default')"),
    ];

    /// <summary>Connects as the parsed options say; a missing or unreadable kubeconfig is a clear error.</summary>
    public static KubeConnection Open(CliArgs args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var file = args.Get("kubeconfig")
            ?? Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
        if (!File.Exists(file))
        {
            throw new InvalidOperationException($"No kubeconfig at '{file}'; pass --kubeconfig <file> or set KUBECONFIG.");
        }

        KubernetesClientConfiguration config;
        try
        {
            config = KubernetesClientConfiguration.BuildConfigFromConfigFile(file, currentContext: args.Get("context"));
        }
        catch (k8s.Exceptions.KubeConfigException e)
        {
            throw new InvalidOperationException($"The kubeconfig '{file}' cannot be used: {e.Message}", e);
        }

        var ns = args.Get("namespace") ?? config.Namespace ?? "default";
        return new KubeConnection(new Kubernetes(config), ns);
    }

    /// <inheritdoc />
    public void Dispose() => Client.Dispose();
}
