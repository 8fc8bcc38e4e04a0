namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>A CEL expression that does not parse or does not type-check; the message points at the offending column.</summary>
public sealed class CelCompileException : Exception
{
    /// <summary>Creates the error for <paramref name="detail"/> at character offset <paramref name="position"/> of <paramref name="source"/>.</summary>
    public CelCompileException(string source, int position, string detail)
        : base(Format(source, position, detail))
    {
        Detail = detail;
    }

    /// <summary>The error without its location.</summary>
    public string Detail { get; }

    private static string Format(string source, int position, string detail)
    {
        position = Math.Clamp(position, 0, source.Length);
        var lineStart = source.LastIndexOf('\n', Math.Max(0, position - 1)) + 1;
        if (position == 0)
        {
            lineStart = 0;
        }

        var line = source[..position].Count(c => c == '\n') + 1;
        var column = position - lineStart + 1;
        var lineEnd = source.IndexOf('\n', lineStart);
        var text = lineEnd < 0 ? source[lineStart..] : source[lineStart..lineEnd];
        return $"ERROR: <input>:{line}:{column}: {detail}\n | {text}\n | {new string('.', column - 1)}^";
    }
}

/// <summary>A CEL expression that failed while it ran: no such key, index out of bounds, overflow, no matching overload.</summary>
public sealed class CelEvaluationException(string message) : Exception(message);
