using System.Diagnostics;
using System.Text.Json;
using MoeCloud.Cli.Hosting;
using MoeCloud.Testing;

namespace MoeCloud.Cli.Tests.Hosting;

/// <summary>moectl's command line through System.CommandLine: errors, help, completion, and plain output off a terminal.</summary>
public sealed class CommandLineTests : IDisposable
{
    private const char Escape = '\u001b';
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Run_WhenOptionIsUnknown_NamesItAndExitsTwoWithTheCommandsHelp()
    {
        var (code, output, error) = await MoectlRunner.Run("trace", "synth", "--out", _dir.Combine("t"), "--frobnicate");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("Unrecognized command or argument '--frobnicate'", error, StringComparison.Ordinal);
        Assert.Contains("moectl trace synth [options]", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Run_WhenUnknownOptionFallsWhereAPositionalFits_ExitsTwoButAfterDoubleDashItIsAPositional()
    {
        var (code, _, error) = await MoectlRunner.Run("trace", "stats", _dir.Combine("t"), "--bogus");
        var (afterDash, _, afterDashError) = await MoectlRunner.Run("trace", "stats", "--", "--not-a-trace");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("Unrecognized command or argument '--bogus'", error, StringComparison.Ordinal);
        Assert.Equal(Moectl.Failed, afterDash);
        Assert.Contains("--not-a-trace", afterDashError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WhenOptionValueIsMissing_NamesTheOptionAndExitsTwo()
    {
        var (code, output, error) = await MoectlRunner.Run("trace", "synth", "--out");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("Required argument missing for option: '--out'", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Run_WhenNumberIsBad_NamesTheOptionAndExitsTwoWithTheCommandsHelp()
    {
        var (code, output, error) = await MoectlRunner.Run("trace", "synth", "--out", _dir.Combine("t"), "--layers", "four");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("option '--layers' needs a whole number", error, StringComparison.Ordinal);
        Assert.Contains("moectl trace synth [options]", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_dir.Combine("t")));
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Run_WhenOptionIsGivenTwice_ExitsTwo()
    {
        var (code, _, error) = await MoectlRunner.Run("trace", "synth", "--out", "a", "--out", "b");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("'--out'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WhenCommandIsUnknown_ExitsTwoWithTheCommandList()
    {
        var (code, output, error) = await MoectlRunner.Run("frobnicate");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("Unrecognized command or argument 'frobnicate'", error, StringComparison.Ordinal);
        Assert.Contains("completion", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public async Task Run_WhenHelpIsAsked_PrintsTheCommandListToStandardOutputAndExitsZero(string help)
    {
        var (code, output, error) = await MoectlRunner.Run(help);

        Assert.Equal(Moectl.Ok, code);
        Assert.Contains("moectl [command] [options]", output, StringComparison.Ordinal);
        Assert.Contains("completion", output, StringComparison.Ordinal);
        Assert.Contains("trace", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Run_WhenHelpOfACommandIsAsked_ShowsItsPlaceholdersAndExitsZero()
    {
        var (code, output, _) = await MoectlRunner.Run("help", "trace", "synth");

        Assert.Equal(Moectl.Ok, code);
        Assert.Contains("--out <dir>", output, StringComparison.Ordinal);
        Assert.Contains("--shape <default|deepseek-v3>", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_WhenJson_StandardOutputIsOnlyTheJsonDocumentAndProgressIsPlain()
    {
        var trace = _dir.Combine("t");
        await MoectlRunner.Run("trace", "synth", "--out", trace, "--tokens", "200", "--sequences", "4", "--layers", "2", "--experts", "8", "--top-k", "2");

        var (code, output, error) = await MoectlRunner.Run("plan", "--trace", trace, "--pods", "2", "--solver", "eplb", "--out", _dir.Combine("p.json"), "--json");

        Assert.Equal(Moectl.Ok, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
        Assert.Contains("solving eplb", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Escape, error);
        Assert.DoesNotContain(Escape, output);
    }

    [Fact]
    public async Task Run_WhenTable_PrintsASpectreTableWithoutEscapeCodes()
    {
        var trace = _dir.Combine("t");
        await MoectlRunner.Run("trace", "synth", "--out", trace, "--tokens", "200", "--sequences", "4", "--layers", "2", "--experts", "8", "--top-k", "2");

        var (code, output, _) = await MoectlRunner.Run("trace", "stats", trace);

        Assert.Equal(Moectl.Ok, code);
        Assert.StartsWith("╭", output, StringComparison.Ordinal);
        Assert.Contains("│ tokens", output, StringComparison.Ordinal);
        Assert.DoesNotContain(Escape, output);
    }

    [Fact]
    public void Table_WhenCellsAreNumeric_RightAlignsThemAndLeftAlignsText()
    {
        var table = CliOutput.Table(["name", "value"], [["a", "1"], ["long name", "1,000"]]);

        var lines = table.Split(Environment.NewLine);
        Assert.Equal(6, lines.Length);
        Assert.Equal("│ a         │     1 │", lines[3]);
        Assert.Equal("│ long name │ 1,000 │", lines[4]);
    }

    [Fact]
    public async Task Progress_WhenErrorIsNotATerminal_WritesTheDescriptionAndReportsAsPlainLines()
    {
        using var error = new StringWriter();
        var console = new CliConsole(TextWriter.Null, error, ErrorIsTerminal: false);

        var result = await CliProgress.RunAsync(console, "solving", progress =>
        {
            progress.Report("sweep 1");
            progress.Advance(1, 2, "half way");
            return Task.FromResult(42);
        });

        Assert.Equal(42, result);
        Assert.Equal(["solving", "sweep 1", "half way"], error.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>System.CommandLine lists the words that start with the typed text, then those that contain it; the shell keeps the first.</summary>
    [Theory]
    [InlineData("moectl tr", "trace")]
    [InlineData("moectl trace s", "split stats synth counts")]
    [InlineData("moectl completion ", "bash zsh")]
    [InlineData("moectl bench chaos --redis-data ", "kept lost")]
    [InlineData("moectl trace synth --to", "--tokens --top-k")]
    public async Task Suggest_WhenLineIsPartial_ListsTheWordsThatMayComeNext(string line, string expected)
    {
        var (code, output, _) = await MoectlRunner.Run($"[suggest:{line.Length}]", line);

        Assert.Equal(Moectl.Ok, code);
        Assert.Equal(expected.Split(' '), output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(w => w is not ("--help" or "-h")));
    }

    [Fact]
    public async Task CompletionBash_PrintsAScriptThatBashAcceptsAndThatCompletesThroughTheBinary()
    {
        var (code, script, _) = await MoectlRunner.Run("completion", "bash");
        Assert.Equal(Moectl.Ok, code);
        var path = _dir.Combine("moectl.bash");
        await File.WriteAllTextAsync(path, script);

        var syntax = await Shell("bash", "-n", path);
        Assert.Equal((0, ""), (syntax.Code, syntax.Error));

        // The completion function as bash calls it on TAB after "moectl trace s", with moectl the built binary.
        var dll = typeof(Moectl).Assembly.Location;
        var session = $$"""
            moectl() { dotnet '{{dll}}' "$@"; }
            source '{{path}}'
            COMP_LINE='moectl trace s'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(moectl trace s); COMP_CWORD=2
            _moectl_complete
            printf '%s\n' "${COMPREPLY[@]}"
            complete -p moectl
            """;
        var completed = await Shell("bash", "-c", session);

        Assert.Equal(0, completed.Code);
        var lines = completed.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["split", "stats", "synth"], lines[..^1].Order(StringComparer.Ordinal));
        Assert.Contains("-F _moectl_complete moectl", lines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompletionZsh_PrintsAScriptThatZshAcceptsAndThatCallsTheSuggestDirective()
    {
        var (code, script, _) = await MoectlRunner.Run("completion", "zsh");
        Assert.Equal(Moectl.Ok, code);
        var path = _dir.Combine("_moectl");
        await File.WriteAllTextAsync(path, script);

        var syntax = await Shell("zsh", "-n", path);

        Assert.Equal((0, ""), (syntax.Code, syntax.Error));
        Assert.StartsWith("#compdef moectl", script, StringComparison.Ordinal);
        Assert.Contains("[suggest:", script, StringComparison.Ordinal);
        Assert.Contains("compdef _moectl moectl", script, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completion_WhenShellIsUnknown_ExitsTwo()
    {
        var (code, output, error) = await MoectlRunner.Run("completion", "fish");

        Assert.Equal(Moectl.BadUsage, code);
        Assert.Contains("no completion script for 'fish'", error, StringComparison.Ordinal);
        Assert.Equal("", output);
    }

    private static async Task<(int Code, string Out, string Error)> Shell(string shell, params string[] args)
    {
        var start = new ProcessStartInfo(shell, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {shell}");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }
}
