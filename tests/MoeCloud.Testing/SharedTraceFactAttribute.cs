using MoeCloud.Model.Traces;
using Xunit;

namespace MoeCloud.Testing;

/// <summary>A fact that needs the real traces in <c>../shared/traces</c>; skipped with a clear reason when they are absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedTraceFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the shared traces cannot be found.</summary>
    public SharedTraceFactAttribute()
    {
        if (SharedTraces.All().Count == 0)
        {
            Skip = $"The real routing traces (../shared/traces beside the checkout, or ${SharedTraces.EnvironmentVariable}) are absent.";
        }
    }
}

/// <summary>A theory over the shared traces; skipped with a clear reason when they are absent.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class SharedTraceTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when the shared traces cannot be found.</summary>
    public SharedTraceTheoryAttribute()
    {
        if (SharedTraces.All().Count == 0)
        {
            Skip = $"The real routing traces (../shared/traces beside the checkout, or ${SharedTraces.EnvironmentVariable}) are absent.";
        }
    }
}

/// <summary>Paths of the shared traces for theories (<c>[MemberData]</c>).</summary>
public static class SharedTraceData
{
    /// <summary>One row per shared trace name; a single placeholder row when absent (the theory is skipped then).</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        var all = SharedTraces.All();
        foreach (var dir in all)
        {
            data.Add(System.IO.Path.GetFileName(dir));
        }

        if (all.Count == 0)
        {
            data.Add("absent");
        }

        return data;
    }

    /// <summary>The directory of a shared trace by name.</summary>
    public static string PathOf(string name) => System.IO.Path.Combine(SharedTraces.Locate() ?? throw new InvalidOperationException("shared traces are absent"), name);
}
