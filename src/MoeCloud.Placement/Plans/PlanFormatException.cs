namespace MoeCloud.Placement.Plans;

/// <summary>A plan file is unreadable or invalid. <see cref="FilePath"/> names the file; the message says what is wrong.</summary>
public sealed class PlanFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="filePath"/>.</summary>
    public PlanFormatException(string filePath, string problem, Exception? inner = null)
        : base($"{filePath}: {problem}", inner)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>The file that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
