using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using k8s;
using k8s.Autorest;
using k8s.Models;
using MoeCloud.Cli.Hosting;
using MoeCloud.Cli.Kube;
using MoeCloud.Contracts.Security;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl kube keys create|rotate|list &lt;deployment&gt;</c> (<c>kubectl moe keys …</c>): the client API keys of a
/// MoeDeployment's gateway, kept as SHA-256 hashes (<see cref="ApiKeys"/>) in the Secret its gateway reads
/// (<c>spec.gateway.keysSecret</c>, else <c>&lt;name&gt;-gateway-keys</c>, laid out as <see cref="GatewayKeySecret"/>
/// says). A new key is printed once and never stored. The gateway reads its keys when it starts, so a change restarts
/// the gateway pods unless <c>--no-restart</c> is given: the command sets the pod-template annotation
/// <see cref="GatewayKeySecret.HashAnnotation"/> to the new entries' fingerprint, the value the operator writes there
/// at its next reconcile (which rolls the pods itself when a Secret is changed another way), so the pods roll once.
/// </summary>
public static partial class KubeKeysCommands
{

    /// <summary>Registers the commands.</summary>
    public static void Register(Moectl app)
    {
        ArgumentNullException.ThrowIfNull(app);
        CliOption noRestart = new("no-restart", "do not restart the gateway pods now (they keep the keys they started with until the operator rolls them at its next reconcile)", IsFlag: true);
        app.Add(new CliCommand(
            "kube keys create",
            "Add a client API key to a MoeDeployment's gateway; prints the key once and stores only its SHA-256.",
            "<deployment>",
            [new("name", "<name>  the key's name (default: key<n>, the first free number)"), noRestart, .. KubeConnection.Options],
            Create, MinArguments: 1, MaxArguments: 1));
        app.Add(new CliCommand(
            "kube keys rotate",
            "Replace a client API key (or all of them) with a new one; prints each new key once.",
            "<deployment>",
            [new("name", "<name>  the key to replace (default: every key)"), noRestart, .. KubeConnection.Options],
            Rotate, MinArguments: 1, MaxArguments: 1));
        app.Add(new CliCommand(
            "kube keys list",
            "List a MoeDeployment's client API keys: names, creation times and hash prefixes (never keys).",
            "<deployment>",
            [new("json", "write JSON", IsFlag: true), .. KubeConnection.Options],
            List, MinArguments: 1, MaxArguments: 1));
    }

    private static async Task<int> Create(CliArgs args, CliConsole console, CancellationToken ct)
    {
        using var kube = KubeConnection.Open(args);
        var keys = await KeysSecret.ReadAsync(kube, args.Positionals[0], ct);
        var entries = keys.Entries();
        var index = GatewayKeySecret.NextIndex(keys.Data, GatewayKeySecret.ClientPrefix);
        var name = args.Get("name") ?? "key" + index;
        if (!NamePattern().IsMatch(name))
        {
            throw new UsageException($"--name '{name}' must be lower-case letters, digits and '-', 1 to 63 of them, starting and ending with a letter or digit");
        }

        if (entries.Any(e => e.Name == name))
        {
            throw new InvalidOperationException($"Secret '{keys.Name}' already has a key named '{name}'; use `keys rotate --name {name}` to replace it.");
        }

        var key = ApiKeys.NewKey();
        keys.Set(index, name, key);
        await keys.SaveAsync(ct);
        await console.Out.WriteLineAsync(key);
        await console.Error.WriteLineAsync($"Added key '{name}' to Secret {kube.Namespace}/{keys.Name} (its SHA-256 only); the key above is shown once and stored nowhere.");
        await RestartAsync(kube, keys, args, console, ct);
        return Moectl.Ok;
    }

    private static async Task<int> Rotate(CliArgs args, CliConsole console, CancellationToken ct)
    {
        using var kube = KubeConnection.Open(args);
        var keys = await KeysSecret.ReadAsync(kube, args.Positionals[0], ct);
        var entries = keys.Entries();
        var name = args.Get("name");
        var chosen = name is null ? entries : entries.Where(e => e.Name == name).ToList();
        if (chosen.Count == 0)
        {
            throw new InvalidOperationException(name is null
                ? $"Secret '{keys.Name}' holds no client keys to rotate; use `keys create`."
                : $"Secret '{keys.Name}' has no key named '{name}' (it has: {string.Join(", ", entries.Select(e => e.Name))}).");
        }

        var fresh = chosen.Select(e => (e.Index, e.Name, Key: ApiKeys.NewKey())).ToList();
        foreach (var (index, keyName, key) in fresh)
        {
            keys.Set(index, keyName, key);
        }

        await keys.SaveAsync(ct);
        foreach (var (_, keyName, key) in fresh)
        {
            await console.Out.WriteLineAsync(fresh.Count == 1 ? key : $"{keyName} {key}");
        }

        await console.Error.WriteLineAsync($"Replaced {string.Join(", ", fresh.Select(f => $"'{f.Name}'"))} in Secret {kube.Namespace}/{keys.Name}; the old keys stop working once the gateways restart, the new ones are shown once.");
        await RestartAsync(kube, keys, args, console, ct);
        return Moectl.Ok;
    }

    private static async Task<int> List(CliArgs args, CliConsole console, CancellationToken ct)
    {
        using var kube = KubeConnection.Open(args);
        var keys = await KeysSecret.ReadAsync(kube, args.Positionals[0], ct);
        var rows = keys.Entries().Select(e => new KeyRow(e.Name, e.Created, e.Sha256[..12])).ToList();
        if (args.Json)
        {
            await console.Out.WriteLineAsync(JsonSerializer.Serialize(rows, KeyRowJson));
            return Moectl.Ok;
        }

        var width = Math.Max(4, rows.Count == 0 ? 0 : rows.Max(r => r.Name.Length)) + 2;
        await console.Out.WriteLineAsync($"{"NAME".PadRight(width)}{"CREATED",-28}SHA256");
        foreach (var row in rows)
        {
            var created = row.Created?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) ?? "-";
            await console.Out.WriteLineAsync($"{row.Name.PadRight(width)}{created,-28}{row.Sha256Prefix}…");
        }

        return Moectl.Ok;
    }

    private static async Task RestartAsync(KubeConnection kube, KeysSecret keys, CliArgs args, CliConsole console, CancellationToken ct)
    {
        var gateway = keys.Deployment + "-gateway";
        if (args.Has("no-restart"))
        {
            await console.Error.WriteLineAsync($"The gateway reads its keys at start: the operator rolls deployment/{gateway} at its next reconcile, or `kubectl -n {kube.Namespace} rollout restart deployment/{gateway}` applies the change now.");
            return;
        }

        var fingerprint = GatewayKeySecret.Fingerprint(keys.Data);
        var body = new { spec = new { template = new { metadata = new { annotations = new Dictionary<string, string> { [GatewayKeySecret.HashAnnotation] = fingerprint } } } } };
        var patch = new V1Patch(JsonSerializer.Serialize(body), V1Patch.PatchType.MergePatch);
        try
        {
            await kube.Client.AppsV1.PatchNamespacedDeploymentAsync(patch, gateway, kube.Namespace, cancellationToken: ct);
            await console.Error.WriteLineAsync($"Restarting deployment/{gateway} so its pods read the keys.");
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            await console.Error.WriteLineAsync($"No deployment/{gateway} yet: its pods read the keys when the operator starts them.");
        }
    }

    private sealed record KeyRow(string Name, DateTimeOffset? Created, string Sha256Prefix);

    private static readonly JsonSerializerOptions KeyRowJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex NamePattern();
}
