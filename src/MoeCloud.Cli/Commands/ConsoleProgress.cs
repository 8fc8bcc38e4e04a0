namespace MoeCloud.Cli.Commands;

/// <summary>
/// Writes progress lines to a writer synchronously, as they are reported, from any thread (unlike
/// <see cref="Progress{T}"/>, which posts them to the thread pool and can write after the command returned).
/// </summary>
internal sealed class ConsoleProgress(TextWriter writer) : IProgress<string>
{
    private readonly Lock _gate = new();

    public void Report(string value)
    {
        lock (_gate)
        {
            writer.WriteLine(value);
        }
    }
}
