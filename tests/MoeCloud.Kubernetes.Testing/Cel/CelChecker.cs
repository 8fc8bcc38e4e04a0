using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>The static types the checker tracks; <see cref="Dyn"/> is anything (unknown until run time).</summary>
internal enum CelKind
{
    Dyn,
    Int,
    UInt,
    Double,
    String,
    Bool,
    Null,
    List,
    Map,
}

/// <summary>A static type, with the schema node it came from for lists and objects (to check field names).</summary>
internal sealed record CelType(CelKind Kind, JsonObject? Schema = null)
{
    public static readonly CelType Dyn = new(CelKind.Dyn);
    public static readonly CelType Int = new(CelKind.Int);
    public static readonly CelType Bool = new(CelKind.Bool);
    public static readonly CelType String = new(CelKind.String);

    public string Name => Kind switch
    {
        CelKind.Null => "null_type",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    /// <summary>The type of values of a structural schema node, as Kubernetes declares them to CEL.</summary>
    public static CelType FromSchema(JsonObject? schema)
    {
        if (schema is null || schema["x-kubernetes-int-or-string"] is JsonValue { } ios && ios.GetValue<bool>())
        {
            return Dyn;
        }

        return (string?)schema["type"] switch
        {
            "integer" => Int,
            "number" => new CelType(CelKind.Double),
            "string" => String,
            "boolean" => Bool,
            "array" => new CelType(CelKind.List, schema),
            "object" => new CelType(CelKind.Map, schema),
            _ => Dyn,
        };
    }
}

/// <summary>
/// Checks a parsed expression before it is ever run, like the Kubernetes API server's CEL compiler: every variable
/// is declared, every function exists with a fitting arity, field selections name fields the schema declares, operand
/// types fit their operators where they are known, literal regular expressions compile, and the result is a bool.
/// </summary>
internal sealed class CelChecker(string source)
{
    private static readonly HashSet<string> Arithmetic = ["+", "-", "*", "/", "%"];
    private static readonly HashSet<string> Ordering = ["<", "<=", ">", ">="];

    /// <summary>Checks <paramref name="expr"/> with the given variables; returns its static type.</summary>
    public CelType Check(CelExpr expr, IReadOnlyDictionary<string, CelType> variables) => expr switch
    {
        CelLiteral literal => LiteralType(literal.Value),
        CelIdent ident => variables.TryGetValue(ident.Name, out var type)
            ? type
            : throw Error(ident, $"undeclared reference to '{ident.Name}' (in container '')"),
        CelSelect select => Select(select, Check(select.Operand, variables)),
        CelIndex index => Index(index, Check(index.Operand, variables), Check(index.Key, variables)),
        CelUnary unary => Unary(unary, Check(unary.Operand, variables)),
        CelBinary binary => Binary(binary, Check(binary.Left, variables), Check(binary.Right, variables)),
        CelConditional conditional => Conditional(conditional, variables),
        CelListLiteral list => ListLiteral(list, variables),
        CelMapLiteral map => MapLiteral(map, variables),
        CelCall call => Call(call, variables),
        CelComprehension comprehension => Comprehension(comprehension, variables),
        _ => throw Error(expr, $"unsupported expression {expr.GetType().Name}"),
    };

    private static CelType LiteralType(object? value) => value switch
    {
        null => new CelType(CelKind.Null),
        long => CelType.Int,
        ulong => new CelType(CelKind.UInt),
        double => new CelType(CelKind.Double),
        string => CelType.String,
        bool => CelType.Bool,
        _ => CelType.Dyn,
    };

    private CelType Select(CelSelect select, CelType operand)
    {
        var result = operand.Kind switch
        {
            CelKind.Dyn => CelType.Dyn,
            CelKind.Map => Field(select, operand.Schema),
            _ => throw Error(select, $"type '{operand.Name}' does not support field selection"),
        };
        return select.TestOnly ? CelType.Bool : result;
    }

    private CelType Field(CelSelect select, JsonObject? schema)
    {
        if (schema is null)
        {
            return CelType.Dyn;
        }

        var name = CelNames.Unescape(select.Field);
        if (schema["properties"] is JsonObject properties && properties[name] is JsonObject property)
        {
            return CelType.FromSchema(property);
        }

        if (schema["additionalProperties"] is JsonObject additional)
        {
            return CelType.FromSchema(additional);
        }

        if (schema["x-kubernetes-preserve-unknown-fields"] is JsonValue preserve && preserve.GetValue<bool>()
            || schema["additionalProperties"] is JsonValue allowed && allowed.GetValue<bool>())
        {
            return CelType.Dyn;
        }

        throw Error(select, $"undefined field '{select.Field}'");
    }

    private CelType Index(CelIndex index, CelType operand, CelType key)
    {
        switch (operand.Kind)
        {
            case CelKind.List:
                if (key.Kind is not (CelKind.Int or CelKind.UInt or CelKind.Dyn))
                {
                    throw Error(index, $"found no matching overload for '_[_]' applied to '(list, {key.Name})'");
                }

                return CelType.FromSchema(operand.Schema?["items"] as JsonObject);
            case CelKind.Map:
                return operand.Schema?["additionalProperties"] is JsonObject additional ? CelType.FromSchema(additional) : CelType.Dyn;
            case CelKind.Dyn:
                return CelType.Dyn;
            default:
                throw Error(index, $"found no matching overload for '_[_]' applied to '({operand.Name}, {key.Name})'");
        }
    }

    private CelType Unary(CelUnary unary, CelType operand)
    {
        var ok = unary.Operator == "!"
            ? operand.Kind is CelKind.Bool or CelKind.Dyn
            : operand.Kind is CelKind.Int or CelKind.Double or CelKind.Dyn;
        return ok
            ? operand.Kind == CelKind.Dyn && unary.Operator == "!" ? CelType.Bool : operand
            : throw Error(unary, $"found no matching overload for '{unary.Operator}_' applied to '({operand.Name})'");
    }

    private CelType Binary(CelBinary binary, CelType left, CelType right)
    {
        var op = binary.Operator;
        var dyn = left.Kind == CelKind.Dyn || right.Kind == CelKind.Dyn;
        bool ok;
        CelType result = CelType.Bool;
        if (op is "&&" or "||")
        {
            ok = left.Kind is CelKind.Bool or CelKind.Dyn && right.Kind is CelKind.Bool or CelKind.Dyn;
        }
        else if (op is "==" or "!=")
        {
            ok = dyn || left.Kind == right.Kind || left.Kind == CelKind.Null || right.Kind == CelKind.Null;
        }
        else if (op == "in")
        {
            ok = right.Kind is CelKind.List or CelKind.Map or CelKind.Dyn;
        }
        else if (Ordering.Contains(op))
        {
            ok = dyn || (IsNumber(left) && IsNumber(right)) || (left.Kind == right.Kind && left.Kind is CelKind.String or CelKind.Bool);
        }
        else if (Arithmetic.Contains(op))
        {
            result = dyn ? CelType.Dyn : left;
            ok = dyn || (left.Kind == right.Kind && op switch
            {
                "+" => left.Kind is CelKind.Int or CelKind.UInt or CelKind.Double or CelKind.String or CelKind.List,
                "%" => left.Kind is CelKind.Int or CelKind.UInt,
                _ => IsNumber(left),
            });
            if (ok && left.Kind == CelKind.List && right.Kind == CelKind.List && !ReferenceEquals(left.Schema, right.Schema))
            {
                result = new CelType(CelKind.List);
            }
        }
        else
        {
            throw Error(binary, $"unknown operator '{op}'");
        }

        return ok ? result : throw Error(binary, $"found no matching overload for '_{op}_' applied to '({left.Name}, {right.Name})'");
    }

    private static bool IsNumber(CelType type) => type.Kind is CelKind.Int or CelKind.UInt or CelKind.Double;

    private CelType Conditional(CelConditional conditional, IReadOnlyDictionary<string, CelType> variables)
    {
        var condition = Check(conditional.Condition, variables);
        if (condition.Kind is not (CelKind.Bool or CelKind.Dyn))
        {
            throw Error(conditional, $"found no matching overload for '_?_:_' applied to '({condition.Name}, ...)'");
        }

        var whenTrue = Check(conditional.WhenTrue, variables);
        var whenFalse = Check(conditional.WhenFalse, variables);
        return whenTrue == whenFalse ? whenTrue : whenTrue.Kind == whenFalse.Kind ? new CelType(whenTrue.Kind) : CelType.Dyn;
    }

    private CelType ListLiteral(CelListLiteral list, IReadOnlyDictionary<string, CelType> variables)
    {
        foreach (var item in list.Items)
        {
            Check(item, variables);
        }

        return new CelType(CelKind.List);
    }

    private CelType MapLiteral(CelMapLiteral map, IReadOnlyDictionary<string, CelType> variables)
    {
        foreach (var (key, value) in map.Entries)
        {
            var keyType = Check(key, variables);
            if (keyType.Kind is not (CelKind.Int or CelKind.UInt or CelKind.String or CelKind.Bool or CelKind.Dyn))
            {
                throw Error(key, $"unsupported map key type '{keyType.Name}'");
            }

            Check(value, variables);
        }

        return new CelType(CelKind.Map);
    }

    private CelType Call(CelCall call, IReadOnlyDictionary<string, CelType> variables)
    {
        var target = call.Target is null ? null : Check(call.Target, variables);
        var args = call.Args.Select(a => Check(a, variables)).ToList();
        var all = target is null ? args : [target, .. args];
        var signature = string.Join(", ", all.Select(a => a.Name));
        CelType? result = (call.Function, target is null, all.Count) switch
        {
            ("size", _, 1) when all[0].Kind is CelKind.String or CelKind.List or CelKind.Map or CelKind.Dyn => CelType.Int,
            ("startsWith" or "endsWith" or "contains", false, 2) when Texts(all) => CelType.Bool,
            ("matches", _, 2) when Texts(all) => CheckedPattern(call, call.Target is null ? call.Args[1] : call.Args[0]),
            ("int", true, 1) when all[0].Kind is CelKind.Int or CelKind.UInt or CelKind.Double or CelKind.String or CelKind.Dyn => CelType.Int,
            ("uint", true, 1) when all[0].Kind is CelKind.Int or CelKind.UInt or CelKind.Double or CelKind.String or CelKind.Dyn => new CelType(CelKind.UInt),
            ("double", true, 1) when all[0].Kind is CelKind.Int or CelKind.UInt or CelKind.Double or CelKind.String or CelKind.Dyn => new CelType(CelKind.Double),
            ("string", true, 1) when all[0].Kind is not (CelKind.List or CelKind.Map or CelKind.Null) => CelType.String,
            ("bool", true, 1) when all[0].Kind is CelKind.Bool or CelKind.String or CelKind.Dyn => CelType.Bool,
            ("dyn", true, 1) => CelType.Dyn,
            ("size" or "startsWith" or "endsWith" or "contains" or "matches" or "int" or "uint" or "double" or "string" or "bool" or "dyn", _, _) => null,
            _ => throw Error(call, $"undeclared reference to '{call.Function}' (in container '')"),
        };
        return result ?? throw Error(call, $"found no matching overload for '{call.Function}' applied to '({signature})'");
    }

    private static bool Texts(List<CelType> types) => types.All(t => t.Kind is CelKind.String or CelKind.Dyn);

    private CelType CheckedPattern(CelCall call, CelExpr pattern)
    {
        if (pattern is CelLiteral { Value: string text })
        {
            try
            {
                CelRegex.Get(text);
            }
            catch (ArgumentException e)
            {
                throw Error(call, $"invalid regular expression '{text}': {e.Message}");
            }
            catch (NotSupportedException e)
            {
                throw Error(call, $"invalid regular expression '{text}': {e.Message}");
            }
        }

        return CelType.Bool;
    }

    private CelType Comprehension(CelComprehension comprehension, IReadOnlyDictionary<string, CelType> variables)
    {
        var range = Check(comprehension.Range, variables);
        var element = range.Kind switch
        {
            CelKind.List => CelType.FromSchema(range.Schema?["items"] as JsonObject),
            CelKind.Map => range.Schema is null ? CelType.Dyn : CelType.String,
            CelKind.Dyn => CelType.Dyn,
            _ => throw Error(comprehension, $"expression of type '{range.Name}' cannot be the range of a comprehension (must be list, map, or dynamic)"),
        };
        var scope = new Dictionary<string, CelType>(variables) { [comprehension.Variable] = element };
        if (comprehension.Filter is { } filter)
        {
            RequireBool(filter, Check(filter, scope));
        }

        var body = Check(comprehension.Body, scope);
        switch (comprehension.Macro)
        {
            case "map":
                return new CelType(CelKind.List);
            case "filter":
                RequireBool(comprehension.Body, body);
                return range.Kind == CelKind.List ? range : new CelType(CelKind.List);
            default:
                RequireBool(comprehension.Body, body);
                return CelType.Bool;
        }
    }

    private void RequireBool(CelExpr expr, CelType type)
    {
        if (type.Kind is not (CelKind.Bool or CelKind.Dyn))
        {
            throw Error(expr, $"expected type 'bool' but found '{type.Name}'");
        }
    }

    private CelCompileException Error(CelExpr expr, string message) => new(source, expr.Position, message);
}

/// <summary>Kubernetes' escaping of property names that are not CEL identifiers (<c>__dash__</c>, <c>__dot__</c>, keywords).</summary>
internal static class CelNames
{
    private static readonly HashSet<string> Keywords =
    [
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if", "import",
        "let", "loop", "package", "namespace", "return", "var", "void", "while",
    ];

    /// <summary>The property name a CEL field name stands for.</summary>
    public static string Unescape(string name)
    {
        if (name.Length > 4 && name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal)
            && Keywords.Contains(name[2..^2]))
        {
            return name[2..^2];
        }

        return name
            .Replace("__underscores__", "\0", StringComparison.Ordinal)
            .Replace("__dot__", ".", StringComparison.Ordinal)
            .Replace("__dash__", "-", StringComparison.Ordinal)
            .Replace("__slash__", "/", StringComparison.Ordinal)
            .Replace("\0", "__", StringComparison.Ordinal);
    }
}

/// <summary>Compiled regular expressions for <c>matches</c> (RE2 syntax; partial match, like CEL).</summary>
internal static class CelRegex
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Cache = new(StringComparer.Ordinal);

    /// <summary>The compiled pattern; throws ArgumentException (or NotSupportedException) when it is invalid.</summary>
    public static Regex Get(string pattern) =>
        Cache.GetOrAdd(pattern, p => new Regex(p, RegexOptions.CultureInvariant | RegexOptions.NonBacktracking));
}
