namespace MoeCloud.Model.Weights;

/// <summary>
/// A checkpoint file is unreadable: truncated, corrupt, missing a tensor, or holding a tensor of the wrong shape or
/// dtype. <see cref="FilePath"/> names the file and <see cref="TensorName"/> the tensor, when one is involved.
/// </summary>
public sealed class CheckpointFormatException : IOException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointFormatException(string filePath, string? tensorName, string problem, Exception? inner = null)
        : base(tensorName is null ? $"{filePath}: {problem}" : $"{filePath}: tensor '{tensorName}': {problem}", inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
        Problem = problem;
    }

    /// <summary>The file that is wrong.</summary>
    public string FilePath { get; }

    /// <summary>The tensor that is wrong, or null when the whole file is.</summary>
    public string? TensorName { get; }

    /// <summary>What is wrong.</summary>
    public string Problem { get; }
}
