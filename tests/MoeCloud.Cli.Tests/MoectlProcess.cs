using System.Diagnostics;
using System.Globalization;
using System.Text;
using MoeCloud.Cli.Hosting;

namespace MoeCloud.Cli.Tests;

/// <summary>
/// moectl as a separate process (Linux): output captured, signals sent by its pid, and the processes it started found
/// in /proc (its descendants, and any process whose working directory is inside <see cref="TempRoot"/>, which is the
/// child's TMPDIR, as the daemonized redis-server of older versions was). Only processes this class started or found
/// that way are ever signalled.
/// </summary>
internal sealed class MoectlProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _out = new();
    private readonly StringBuilder _error = new();

    private MoectlProcess(Process process, string tempRoot)
    {
        _process = process;
        TempRoot = tempRoot;
    }

    /// <summary>The child's TMPDIR.</summary>
    public string TempRoot { get; }

    /// <summary>moectl's pid.</summary>
    public int Pid => _process.Id;

    /// <summary>True once it exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code, once it exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Standard output so far.</summary>
    public string Out
    {
        get
        {
            lock (_out)
            {
                return _out.ToString();
            }
        }
    }

    /// <summary>Standard error so far.</summary>
    public string Error
    {
        get
        {
            lock (_error)
            {
                return _error.ToString();
            }
        }
    }

    /// <summary>
    /// Starts moectl with <paramref name="args"/>. It runs under <c>env --default-signal=INT</c>: a test runner started
    /// in the background ignores SIGINT, and an ignored signal stays ignored across exec.
    /// </summary>
    public static MoectlProcess Start(string home, string tempRoot, params string[] args) => Start(home, tempRoot, new Dictionary<string, string?>(), args);

    /// <summary>
    /// <see cref="Start(string, string, string[])"/> with <paramref name="environment"/> set in the child's environment on
    /// top of this process's (a null value removes the variable).
    /// </summary>
    public static MoectlProcess Start(string home, string tempRoot, IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo("env", ["--default-signal=INT", dotnet, typeof(Moectl).Assembly.Location, .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["MOECLOUD_HOME"] = home;
        start.Environment["TMPDIR"] = tempRoot;
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start moectl");
        var moectl = new MoectlProcess(process, tempRoot);
        process.OutputDataReceived += (_, e) => Append(moectl._out, e.Data);
        process.ErrorDataReceived += (_, e) => Append(moectl._error, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return moectl;
    }

    /// <summary>Waits until standard output or error contains <paramref name="text"/>; false if it exits first or after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitFor(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Out.Contains(text, StringComparison.Ordinal) || Error.Contains(text, StringComparison.Ordinal))
            {
                return true;
            }

            if (_process.HasExited)
            {
                return false;
            }

            await Task.Delay(100);
        }

        return false;
    }

    /// <summary>Sends <paramref name="signal"/> (INT, TERM, KILL) to moectl.</summary>
    public Task Signal(string signal) => SignalPid(Pid, signal);

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>.</summary>
    public static async Task SignalPid(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-s", signal, Text(pid)]) { UseShellExecute = false }) ?? throw new InvalidOperationException("could not run kill");
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits up to <paramref name="timeout"/> for moectl to exit; true if it did.</summary>
    public async Task<bool> WaitForExit(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>The processes moectl started that are alive now: its descendants and those working inside <see cref="TempRoot"/>.</summary>
    public IReadOnlyList<int> Started()
    {
        var parents = new Dictionary<int, int>();
        var found = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == Pid)
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[0] != "Z")
                {
                    parents[pid] = int.Parse(fields[1], CultureInfo.InvariantCulture);
                    if (new DirectoryInfo(Path.Combine(dir, "cwd")).LinkTarget is { } cwd && cwd.StartsWith(TempRoot, StringComparison.Ordinal))
                    {
                        found.Add(pid);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or not ours to read.
            }
        }

        var frontier = new Queue<int>([Pid]);
        while (frontier.TryDequeue(out var parent))
        {
            foreach (var child in parents.Where(p => p.Value == parent).Select(p => p.Key))
            {
                found.Add(child);
                frontier.Enqueue(child);
            }
        }

        return [.. found.Order()];
    }

    /// <summary>Which of <paramref name="pids"/> are still alive (not gone, not a zombie) after waiting up to <paramref name="timeout"/> for all to go.</summary>
    public static async Task<IReadOnlyList<int>> StillAlive(IReadOnlyList<int> pids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var alive = pids.Where(IsAlive).ToArray();
            if (alive.Length == 0 || DateTime.UtcNow > deadline)
            {
                return alive;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Kills moectl and <paramref name="started"/> if still alive (cleanup after a failed assertion).</summary>
    public async Task KillAll(IEnumerable<int> started)
    {
        foreach (var pid in started.Prepend(Pid).Where(IsAlive))
        {
            await SignalPid(pid, "KILL");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _process.Dispose();

    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{Text(pid)}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Append(StringBuilder to, string? line)
    {
        if (line is not null)
        {
            lock (to)
            {
                to.AppendLine(line);
            }
        }
    }
}
