namespace MoeCloud.Model.Traces;

/// <summary>
/// A trace file (or a whole trace directory) is unreadable. <see cref="FilePath"/> names the file and the message says
/// what is wrong with it.
/// </summary>
public sealed class TraceFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="filePath"/>.</summary>
    public TraceFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with it, without the file name.</summary>
    public string Problem { get; }
}
