using MoeCloud.Cli.Hosting;

namespace MoeCloud.Cli.Commands;

/// <summary>
/// <c>moectl completion bash|zsh</c>: prints a shell completion script. The script asks moectl itself what may come
/// next through System.CommandLine's <c>[suggest:&lt;cursor&gt;] "&lt;command line&gt;"</c> directive, so it stays in step
/// with the commands and options of the binary it calls; no dotnet-suggest is needed. Where moectl suggests nothing
/// (a file or directory argument), the shell completes file names.
/// </summary>
internal static class CompletionCommand
{
    /// <summary>The shells a script is printed for.</summary>
    public static readonly string[] Shells = ["bash", "zsh"];

    public static void Register(Moectl app) =>
        app.Add(new CliCommand(
            "completion",
            "Print a bash or zsh completion script: source <(moectl completion bash) in ~/.bashrc, or <(moectl completion zsh) in ~/.zshrc after compinit.",
            "<bash|zsh>",
            [],
            Run,
            MinArguments: 1,
            MaxArguments: 1));

    private static async Task<int> Run(CliArgs args, CliConsole console, CancellationToken ct)
    {
        var shell = args.Positionals[0];
        var script = shell switch
        {
            "bash" => Bash,
            "zsh" => Zsh,
            _ => throw new UsageException($"no completion script for '{shell}': the shells are {string.Join(", ", Shells)}"),
        };
        await console.Out.WriteAsync(script.ReplaceLineEndings("\n"));
        return Moectl.Ok;
    }

    /// <summary>
    /// bash: COMP_LINE and COMP_POINT are the line and the cursor as typed; the moectl that completes is the one the
    /// line starts with (so ./moectl completes from that build).
    /// </summary>
    internal const string Bash = """
        # bash completion for moectl (moectl completion bash).
        # Enable it for this shell with: source <(moectl completion bash)
        # and for every shell by adding that line to ~/.bashrc.
        _moectl_complete()
        {
            local IFS=$'\n'
            local suggestions
            suggestions=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) || return 0
            COMPREPLY=($(compgen -W "${suggestions}" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -o bashdefault -F _moectl_complete moectl

        """;

    /// <summary>zsh: the words up to the one under the cursor make the line; compadd filters by the typed prefix.</summary>
    internal const string Zsh = """
        #compdef moectl
        # zsh completion for moectl (moectl completion zsh).
        # Enable it for this shell with: source <(moectl completion zsh)   (after compinit)
        # and for every shell by adding that line to ~/.zshrc.
        _moectl() {
            local line="${(j: :)words[1,CURRENT]}"
            local -a suggestions
            suggestions=("${(@f)$("${words[1]}" "[suggest:${#line}]" "${line}" 2>/dev/null)}")
            suggestions=(${suggestions:#})
            if (( ${#suggestions} > 0 )); then
                compadd -a suggestions
            else
                _files
            fi
        }
        if (( $+functions[compdef] )); then
            compdef _moectl moectl
        fi

        """;
}
