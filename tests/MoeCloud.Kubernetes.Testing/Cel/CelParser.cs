namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>
/// A recursive-descent parser of the CEL grammar (conditional, ||, &amp;&amp;, relations and <c>in</c>, + -, * / %,
/// unary ! and -, member selection, indexing, calls, list and map literals) with the has(), all(), exists(),
/// exists_one(), filter() and map() macros expanded into dedicated nodes.
/// </summary>
internal sealed class CelParser
{
    private const int MaxDepth = 100;

    private static readonly HashSet<string> Reserved =
    [
        "as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop", "package",
        "namespace", "return", "var", "void", "while", "in", "true", "false", "null",
    ];

    private static readonly Dictionary<string, int> MacroArity = new(StringComparer.Ordinal)
    {
        ["all"] = 2, ["exists"] = 2, ["exists_one"] = 2, ["filter"] = 2, ["map"] = 2,
    };

    private readonly string _source;
    private readonly List<CelToken> _tokens;
    private int _next;
    private int _depth;

    private CelParser(string source)
    {
        _source = source;
        _tokens = new CelLexer(source).Tokenize();
    }

    /// <summary>Parses a whole expression; throws <see cref="CelCompileException"/> on any syntax error.</summary>
    public static CelExpr Parse(string source)
    {
        var parser = new CelParser(source);
        if (parser.Peek.Kind == CelTokenKind.End)
        {
            throw new CelCompileException(source, 0, "Syntax error: the expression is empty");
        }

        var expr = parser.Expression();
        if (parser.Peek.Kind != CelTokenKind.End)
        {
            throw parser.Error(parser.Peek, $"Syntax error: extraneous input '{parser.Peek.Text}'");
        }

        return expr;
    }

    private CelToken Peek => _tokens[_next];

    private CelExpr Expression()
    {
        if (++_depth > MaxDepth)
        {
            throw Error(Peek, $"Syntax error: expression nests deeper than {MaxDepth} levels");
        }

        var condition = Or();
        if (Accept("?") is { } question)
        {
            var whenTrue = Or();
            Expect(":");
            var whenFalse = Expression();
            condition = new CelConditional(question.Position, condition, whenTrue, whenFalse);
        }

        _depth--;
        return condition;
    }

    private CelExpr Or() => LeftAssociative(And, "||");

    private CelExpr And() => LeftAssociative(Relation, "&&");

    private CelExpr Relation() => LeftAssociative(Addition, "==", "!=", "<", "<=", ">", ">=", "in");

    private CelExpr Addition() => LeftAssociative(Multiplication, "+", "-");

    private CelExpr Multiplication() => LeftAssociative(Unary, "*", "/", "%");

    private CelExpr LeftAssociative(Func<CelExpr> operand, params string[] operators)
    {
        var left = operand();
        while (operators.FirstOrDefault(IsNext) is { } op)
        {
            var token = _tokens[_next++];
            left = new CelBinary(token.Position, op, left, operand());
        }

        return left;
    }

    private CelExpr Unary()
    {
        if (Accept("!") is { } not)
        {
            return new CelUnary(not.Position, "!", Unary());
        }

        if (Accept("-") is { } minus)
        {
            if (Peek.Kind is CelTokenKind.Int or CelTokenKind.Double && !IsMemberSuffix(_tokens[_next + 1]))
            {
                var literal = _tokens[_next++];
                return literal.Kind == CelTokenKind.Double
                    ? new CelLiteral(minus.Position, -(double)literal.Value!)
                    : new CelLiteral(minus.Position, NegativeInt(literal));
            }

            return new CelUnary(minus.Position, "-", Unary());
        }

        return Member();
    }

    private long NegativeInt(CelToken literal)
    {
        var magnitude = (ulong)literal.Value!;
        return magnitude switch
        {
            <= long.MaxValue => -(long)magnitude,
            (ulong)long.MaxValue + 1 => long.MinValue,
            _ => throw Error(literal, $"Syntax error: integer literal -{literal.Text} is out of range"),
        };
    }

    private static bool IsMemberSuffix(CelToken token) => token.Kind == CelTokenKind.Punct && token.Text is "." or "[";

    private CelExpr Member()
    {
        var expr = Primary();
        while (true)
        {
            if (Accept(".") is { } dot)
            {
                var name = Identifier("a field or method name after '.'");
                if (Accept("(") is not null)
                {
                    expr = MemberCall(expr, name, Arguments(")"));
                }
                else
                {
                    expr = new CelSelect(dot.Position, expr, name.Text, TestOnly: false);
                }
            }
            else if (Accept("[") is { } bracket)
            {
                var key = Expression();
                Expect("]");
                expr = new CelIndex(bracket.Position, expr, key);
            }
            else
            {
                return expr;
            }
        }
    }

    private CelExpr MemberCall(CelExpr target, CelToken name, List<CelExpr> args)
    {
        var isMacro = MacroArity.TryGetValue(name.Text, out var arity) && (args.Count == arity || (name.Text == "map" && args.Count == 3));
        if (!isMacro)
        {
            return new CelCall(name.Position, target, name.Text, args);
        }

        if (args[0] is not CelIdent variable)
        {
            throw new CelCompileException(_source, args[0].Position, $"Syntax error: the first argument of {name.Text}() must be a simple variable name");
        }

        return args.Count == 3
            ? new CelComprehension(name.Position, name.Text, target, variable.Name, args[2], args[1])
            : new CelComprehension(name.Position, name.Text, target, variable.Name, args[1], null);
    }

    private CelExpr Primary()
    {
        var token = Peek;
        switch (token.Kind)
        {
            case CelTokenKind.Int:
                _next++;
                return (ulong)token.Value! <= long.MaxValue
                    ? new CelLiteral(token.Position, (long)(ulong)token.Value)
                    : throw Error(token, $"Syntax error: integer literal {token.Text} is out of range");
            case CelTokenKind.UInt or CelTokenKind.Double or CelTokenKind.String:
                _next++;
                return new CelLiteral(token.Position, token.Value);
            case CelTokenKind.Identifier when token.Text is "true" or "false":
                _next++;
                return new CelLiteral(token.Position, token.Text == "true");
            case CelTokenKind.Identifier when token.Text == "null":
                _next++;
                return new CelLiteral(token.Position, null);
            case CelTokenKind.Identifier:
                var name = Identifier("an identifier");
                if (Accept("(") is null)
                {
                    if (IsNext("{"))
                    {
                        throw Error(Peek, "Syntax error: message construction (Type{...}) is not supported");
                    }

                    return new CelIdent(name.Position, name.Text);
                }

                var args = Arguments(")");
                if (name.Text != "has")
                {
                    return new CelCall(name.Position, null, name.Text, args);
                }

                return args is [CelSelect { TestOnly: false } select]
                    ? select with { TestOnly = true }
                    : throw Error(name, "Syntax error: invalid argument to has() macro (it takes one field selection, e.g. has(self.field))");
            case CelTokenKind.Punct when token.Text == "(":
                _next++;
                var inner = Expression();
                Expect(")");
                return inner;
            case CelTokenKind.Punct when token.Text == "[":
                _next++;
                return new CelListLiteral(token.Position, Arguments("]", allowTrailingComma: true));
            case CelTokenKind.Punct when token.Text == "{":
                _next++;
                return MapLiteral(token);
            case CelTokenKind.End:
                throw Error(token, "Syntax error: unexpected end of expression");
            default:
                throw Error(token, $"Syntax error: unexpected '{token.Text}'");
        }
    }

    private CelMapLiteral MapLiteral(CelToken open)
    {
        var entries = new List<(CelExpr, CelExpr)>();
        while (Accept("}") is null)
        {
            var key = Expression();
            Expect(":");
            entries.Add((key, Expression()));
            if (Accept(",") is null)
            {
                Expect("}");
                break;
            }
        }

        return new CelMapLiteral(open.Position, entries);
    }

    private List<CelExpr> Arguments(string close, bool allowTrailingComma = false)
    {
        var args = new List<CelExpr>();
        if (Accept(close) is not null)
        {
            return args;
        }

        while (true)
        {
            args.Add(Expression());
            if (Accept(",") is null)
            {
                Expect(close);
                return args;
            }

            if (allowTrailingComma && Accept(close) is not null)
            {
                return args;
            }
        }
    }

    private CelToken Identifier(string what)
    {
        var token = Peek;
        if (token.Kind != CelTokenKind.Identifier)
        {
            throw Error(token, $"Syntax error: expected {what}, found '{token.Text}'");
        }

        if (Reserved.Contains(token.Text) && token.Text is not ("true" or "false" or "null"))
        {
            throw Error(token, $"Syntax error: '{token.Text}' is a reserved word");
        }

        _next++;
        return token;
    }

    private bool IsNext(string punct) =>
        (Peek.Kind == CelTokenKind.Punct && Peek.Text == punct) || (punct == "in" && Peek.Kind == CelTokenKind.Identifier && Peek.Text == "in");

    private CelToken? Accept(string punct) => IsNext(punct) ? _tokens[_next++] : null;

    private void Expect(string punct)
    {
        if (Accept(punct) is null)
        {
            throw Error(Peek, $"Syntax error: expected '{punct}', found '{Peek.Text}'");
        }
    }

    private CelCompileException Error(CelToken token, string message) => new(_source, token.Position, message);
}
