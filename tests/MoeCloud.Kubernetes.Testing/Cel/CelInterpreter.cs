using System.Globalization;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>
/// Runs a checked expression over CEL values. Errors (no such key, index out of bounds, overflow, division by zero,
/// no such overload) are <see cref="CelEvaluationException"/>s; <c>&amp;&amp;</c>, <c>||</c>, all() and exists()
/// absorb an error when the other side decides the result, as CEL specifies.
/// </summary>
internal static class CelInterpreter
{
    /// <summary>Evaluates <paramref name="expr"/> with the given variable values.</summary>
    public static object? Evaluate(CelExpr expr, IReadOnlyDictionary<string, object?> variables) => expr switch
    {
        CelLiteral literal => literal.Value,
        CelIdent ident => variables.TryGetValue(ident.Name, out var value)
            ? value
            : throw new CelEvaluationException($"no such attribute: {ident.Name}"),
        CelSelect select => Select(select, Evaluate(select.Operand, variables)),
        CelIndex index => Index(Evaluate(index.Operand, variables), Evaluate(index.Key, variables)),
        CelUnary unary => Unary(unary.Operator, Evaluate(unary.Operand, variables)),
        CelBinary { Operator: "&&" or "||" } logical => Logical(logical, variables),
        CelBinary binary => Binary(binary.Operator, Evaluate(binary.Left, variables), Evaluate(binary.Right, variables)),
        CelConditional conditional => Evaluate(conditional.Condition, variables) switch
        {
            true => Evaluate(conditional.WhenTrue, variables),
            false => Evaluate(conditional.WhenFalse, variables),
            var other => throw NoOverload("_?_:_", other),
        },
        CelListLiteral list => new CelList(list.Items.Select(i => Evaluate(i, variables)).ToList()),
        CelMapLiteral map => MapLiteral(map, variables),
        CelCall call => CelFunctions.Call(call.Function, call.Target is null ? null : Evaluate(call.Target, variables), call.Target is not null,
            call.Args.Select(a => Evaluate(a, variables)).ToList()),
        CelComprehension comprehension => Comprehension(comprehension, variables),
        _ => throw new CelEvaluationException($"unsupported expression {expr.GetType().Name}"),
    };

    private static object? Select(CelSelect select, object? operand)
    {
        if (operand is not CelMap map)
        {
            throw new CelEvaluationException($"type '{CelValues.TypeName(operand)}' does not support field selection");
        }

        var name = CelNames.Unescape(select.Field);
        if (select.TestOnly)
        {
            return map.ContainsKey(name);
        }

        return map.TryGetValue(name, out var value) ? value : throw new CelEvaluationException($"no such key: {select.Field}");
    }

    private static object? Index(object? operand, object? key)
    {
        switch (operand)
        {
            case CelList list:
                long position = key switch
                {
                    long l => l,
                    ulong u when u <= long.MaxValue => (long)u,
                    double d when double.IsInteger(d) && Math.Abs(d) < 9.2e18 => (long)d,
                    _ => throw NoOverload("_[_]", operand, key),
                };
                return position >= 0 && position < list.Count ? list[(int)position] : throw new CelEvaluationException($"index out of bounds: {position}");
            case CelMap map:
                if (key is null or CelList or CelMap or double)
                {
                    throw NoOverload("_[_]", operand, key);
                }

                return map.TryGetValue(key, out var value) ? value : throw new CelEvaluationException($"no such key: {CelValues.Display(key)}");
            default:
                throw NoOverload("_[_]", operand, key);
        }
    }

    private static object? Unary(string op, object? operand) => (op, operand) switch
    {
        ("!", bool b) => !b,
        ("-", long l) => l == long.MinValue ? throw new CelEvaluationException("integer overflow") : -l,
        ("-", double d) => -d,
        _ => throw NoOverload(op + "_", operand),
    };

    private static object? Logical(CelBinary binary, IReadOnlyDictionary<string, object?> variables)
    {
        var decisive = binary.Operator == "||";
        var (left, leftError) = Try(binary.Left, variables);
        if (left is bool l && l == decisive)
        {
            return decisive;
        }

        var (right, rightError) = Try(binary.Right, variables);
        if (right is bool r && r == decisive)
        {
            return decisive;
        }

        if (leftError is not null)
        {
            throw leftError;
        }

        if (rightError is not null)
        {
            throw rightError;
        }

        return left is bool && right is bool ? !decisive : throw NoOverload($"_{binary.Operator}_", left, right);
    }

    private static (object? Value, CelEvaluationException? Error) Try(CelExpr expr, IReadOnlyDictionary<string, object?> variables)
    {
        try
        {
            return (Evaluate(expr, variables), null);
        }
        catch (CelEvaluationException e)
        {
            return (null, e);
        }
    }

    /// <summary>A binary operator other than &amp;&amp; and ||.</summary>
    public static object? Binary(string op, object? left, object? right)
    {
        switch (op)
        {
            case "==":
                return CelValues.Equal(left, right);
            case "!=":
                return !CelValues.Equal(left, right);
            case "in":
                return right switch
                {
                    CelList list => list.Any(item => CelValues.Equal(left, item)),
                    CelMap map => left is not null && map.Keys.Any(k => CelValues.Equal(left, k)),
                    _ => throw NoOverload("@in", left, right),
                };
            case "<" or "<=" or ">" or ">=":
                var order = Compare(op, left, right);
                return order is { } o && op switch
                {
                    "<" => o < 0,
                    "<=" => o <= 0,
                    ">" => o > 0,
                    _ => o >= 0,
                };
            default:
                return Arithmetic(op, left, right);
        }
    }

    private static int? Compare(string op, object? left, object? right)
    {
        if (CelValues.Numeric(left) && CelValues.Numeric(right))
        {
            return CelValues.CompareNumbers(left!, right!);
        }

        return (left, right) switch
        {
            (string a, string b) => string.CompareOrdinal(a, b),
            (bool a, bool b) => a.CompareTo(b),
            _ => throw NoOverload($"_{op}_", left, right),
        };
    }

    private static object Arithmetic(string op, object? left, object? right)
    {
        try
        {
            return (op, left, right) switch
            {
                ("+", long a, long b) => checked(a + b),
                ("-", long a, long b) => checked(a - b),
                ("*", long a, long b) => checked(a * b),
                ("/", long a, long b) => b == 0 ? throw new CelEvaluationException("division by zero") : checked(a / b),
                ("%", long a, long b) => b == 0 ? throw new CelEvaluationException("modulus by zero") : b == -1 ? 0L : a % b,
                ("+", ulong a, ulong b) => checked(a + b),
                ("-", ulong a, ulong b) => checked(a - b),
                ("*", ulong a, ulong b) => checked(a * b),
                ("/", ulong a, ulong b) => b == 0 ? throw new CelEvaluationException("division by zero") : a / b,
                ("%", ulong a, ulong b) => b == 0 ? throw new CelEvaluationException("modulus by zero") : a % b,
                ("+", double a, double b) => a + b,
                ("-", double a, double b) => a - b,
                ("*", double a, double b) => a * b,
                ("/", double a, double b) => a / b,
                ("+", string a, string b) => a + b,
                ("+", CelList a, CelList b) => new CelList([.. a, .. b]),
                _ => throw NoOverload($"_{op}_", left, right),
            };
        }
        catch (OverflowException)
        {
            throw new CelEvaluationException(left is ulong ? "unsigned integer overflow" : "integer overflow");
        }
    }

    private static CelMap MapLiteral(CelMapLiteral literal, IReadOnlyDictionary<string, object?> variables)
    {
        var entries = new Dictionary<object, object?>();
        foreach (var (keyExpr, valueExpr) in literal.Entries)
        {
            var key = Evaluate(keyExpr, variables);
            if (key is not (long or ulong or string or bool))
            {
                throw new CelEvaluationException($"unsupported key type: {CelValues.TypeName(key)}");
            }

            if (!entries.TryAdd(key, Evaluate(valueExpr, variables)))
            {
                throw new CelEvaluationException($"Failed with repeated key: {CelValues.Display(key)}");
            }
        }

        return new CelMap(entries);
    }

    private static object? Comprehension(CelComprehension comprehension, IReadOnlyDictionary<string, object?> variables)
    {
        IEnumerable<object?> range = Evaluate(comprehension.Range, variables) switch
        {
            CelList list => (IEnumerable<object?>)list,
            CelMap map => map.Keys,
            var other => throw new CelEvaluationException($"expression of type '{CelValues.TypeName(other)}' cannot be the range of a comprehension"),
        };
        var scope = new Dictionary<string, object?>(variables);
        object? Run(CelExpr body, object? item)
        {
            scope[comprehension.Variable] = item;
            return Evaluate(body, scope);
        }

        switch (comprehension.Macro)
        {
            case "all" or "exists":
                var decisive = comprehension.Macro == "exists";
                CelEvaluationException? error = null;
                foreach (var item in range)
                {
                    scope[comprehension.Variable] = item;
                    var (value, e) = Try(comprehension.Body, scope);
                    if (value is bool b && b == decisive)
                    {
                        return decisive;
                    }

                    error ??= e ?? (value is bool ? null : NoOverload(comprehension.Macro, value));
                }

                return error is null ? !decisive : throw error;
            case "exists_one":
                var count = range.Count(item => Run(comprehension.Body, item) is bool b ? b : throw NoOverload("exists_one", item));
                return count == 1;
            case "filter":
                return new CelList(range.Where(item => Run(comprehension.Body, item) is bool b ? b : throw NoOverload("filter", item)).ToList());
            default:
                var filter = comprehension.Filter;
                return new CelList(range
                    .Where(item => filter is null || (Run(filter, item) is bool b ? b : throw NoOverload("map", item)))
                    .Select(item => Run(comprehension.Body, item))
                    .ToList());
        }
    }

    public static CelEvaluationException NoOverload(string function, params object?[] args) =>
        new($"no such overload: {function}({string.Join(", ", args.Select(CelValues.TypeName))})");
}

/// <summary>The functions of the evaluator: size, string tests, matches, and the type conversions.</summary>
internal static class CelFunctions
{
    /// <summary>Calls <paramref name="function"/>; <paramref name="target"/> is the receiver of a member call.</summary>
    public static object? Call(string function, object? target, bool isMember, List<object?> args)
    {
        List<object?> all = isMember ? [target, .. args] : args;
        return (function, all) switch
        {
            ("size", [string s]) => (long)s.EnumerateRunes().Count(),
            ("size", [CelList l]) => (long)l.Count,
            ("size", [CelMap m]) => (long)m.Count,
            ("startsWith", [string s, string p]) => s.StartsWith(p, StringComparison.Ordinal),
            ("endsWith", [string s, string p]) => s.EndsWith(p, StringComparison.Ordinal),
            ("contains", [string s, string p]) => s.Contains(p, StringComparison.Ordinal),
            ("matches", [string s, string p]) => Matches(s, p),
            ("int", [var v]) => ToInt(v),
            ("uint", [var v]) => ToUInt(v),
            ("double", [var v]) => ToDouble(v),
            ("string", [var v]) when v is not (CelList or CelMap or null) => CelValues.Display(v),
            ("bool", [bool b]) => b,
            ("bool", [string s]) => s switch
            {
                "true" or "True" or "TRUE" or "t" or "1" => true,
                "false" or "False" or "FALSE" or "f" or "0" => false,
                _ => throw new CelEvaluationException($"type conversion error from 'string' to 'bool': \"{s}\""),
            },
            ("dyn", [var v]) => v,
            _ => throw CelInterpreter.NoOverload(function, [.. all]),
        };
    }

    private static bool Matches(string text, string pattern)
    {
        try
        {
            return CelRegex.Get(pattern).IsMatch(text);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException)
        {
            throw new CelEvaluationException($"invalid regular expression '{pattern}': {e.Message}");
        }
    }

    private static long ToInt(object? value) => value switch
    {
        long l => l,
        ulong u => u <= long.MaxValue ? (long)u : throw new CelEvaluationException("integer overflow"),
        double d => double.IsFinite(d) && d > -9223372036854775809.0 && d < 9223372036854775808.0
            ? (long)Math.Truncate(d)
            : throw new CelEvaluationException("integer overflow"),
        string s => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
            ? l
            : throw new CelEvaluationException($"type conversion error from 'string' to 'int': \"{s}\""),
        _ => throw CelInterpreter.NoOverload("int", value),
    };

    private static ulong ToUInt(object? value) => value switch
    {
        long l => l >= 0 ? (ulong)l : throw new CelEvaluationException("unsigned integer overflow"),
        ulong u => u,
        double d => double.IsFinite(d) && d > -1 && d < 18446744073709551616.0
            ? (ulong)Math.Truncate(d)
            : throw new CelEvaluationException("unsigned integer overflow"),
        string s => ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var u)
            ? u
            : throw new CelEvaluationException($"type conversion error from 'string' to 'uint': \"{s}\""),
        _ => throw CelInterpreter.NoOverload("uint", value),
    };

    private static double ToDouble(object? value) => value switch
    {
        long l => l,
        ulong u => u,
        double d => d,
        string s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d
            : throw new CelEvaluationException($"type conversion error from 'string' to 'double': \"{s}\""),
        _ => throw CelInterpreter.NoOverload("double", value),
    };
}
