using k8s;
using k8s.KubeConfigModels;
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
            var kubeconfig = KubernetesClientConfiguration.LoadKubeConfig(file);
            AllowAnonymous(kubeconfig, args.Get("context"));
            config = KubernetesClientConfiguration.BuildConfigFromConfigObject(kubeconfig, currentContext: args.Get("context"));
        }
        catch (Exception e) when (e is k8s.Exceptions.KubeConfigException or YamlDotNet.Core.YamlException)
        {
            throw new InvalidOperationException($"The kubeconfig '{file}' cannot be used: {e.Message}", e);
        }

        var ns = args.Get("namespace") ?? config.Namespace ?? "default";
        return new KubeConnection(new Kubernetes(config), ns);
    }

    /// <summary>
    /// A context whose user has no credentials at all (<c>user: {}</c>, which kubectl accepts for an API server that
    /// takes anonymous requests, such as an insecure local one or one behind an authenticating proxy) is made to name no
    /// user, so the client sends anonymous requests instead of refusing the file as the .NET client does. A context or
    /// user that does not exist is left as it is, for the client to report.
    /// </summary>
    private static void AllowAnonymous(K8SConfiguration kubeconfig, string? contextName)
    {
        var name = contextName ?? kubeconfig.CurrentContext;
        var context = kubeconfig.Contexts?.FirstOrDefault(c => c.Name == name)?.ContextDetails;
        if (context is { User: { Length: > 0 } userName }
            && kubeconfig.Users?.FirstOrDefault(u => u.Name == userName) is { } user
            && HasNoCredentials(user.UserCredentials))
        {
            context.User = null;
        }
    }

    private static bool HasNoCredentials(UserCredentials? credentials) =>
        credentials is null
        || (string.IsNullOrEmpty(credentials.Token) && string.IsNullOrEmpty(credentials.UserName) && string.IsNullOrEmpty(credentials.Password)
            && string.IsNullOrEmpty(credentials.ClientCertificate) && string.IsNullOrEmpty(credentials.ClientCertificateData)
            && string.IsNullOrEmpty(credentials.ClientKey) && string.IsNullOrEmpty(credentials.ClientKeyData)
            && credentials.AuthProvider is null && credentials.ExternalExecution is null);

    /// <inheritdoc />
    public void Dispose() => Client.Dispose();
}
