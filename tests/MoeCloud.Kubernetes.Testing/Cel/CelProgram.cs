using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>
/// A compiled CEL expression over <c>self</c> (and <c>oldSelf</c>), typed by the structural schema of the node it
/// sits at, as the Kubernetes API server compiles an <c>x-kubernetes-validations</c> rule.
/// </summary>
public sealed class CelProgram
{
    private static readonly JsonObject RootMetadata = new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject { ["name"] = new JsonObject { ["type"] = "string" }, ["generateName"] = new JsonObject { ["type"] = "string" } },
    };

    private readonly CelExpr _expr;
    private readonly JsonObject? _schema;
    private readonly bool _isRoot;

    private CelProgram(string source, CelExpr expr, JsonObject? schema, bool isRoot, CelType resultType)
    {
        _isRoot = isRoot;
        Source = source;
        _expr = expr;
        _schema = schema;
        ResultType = resultType.Name;
        UsesOldSelf = References(expr, "oldSelf");
    }

    /// <summary>The expression text.</summary>
    public string Source { get; }

    /// <summary>Whether the expression references <c>oldSelf</c> (a transition rule: evaluated on update only).</summary>
    public bool UsesOldSelf { get; }

    /// <summary>The static result type ("bool", "string", "dyn", ...).</summary>
    public string ResultType { get; }

    /// <summary>
    /// Parses and checks <paramref name="expression"/>. With a <paramref name="selfSchema"/>, <c>self</c> and
    /// <c>oldSelf</c> are typed by it and field selections must name declared properties; without one they are dynamic.
    /// </summary>
    /// <param name="expression">The CEL source.</param>
    /// <param name="selfSchema">The structural schema of the node the expression is evaluated at.</param>
    /// <param name="isRoot">The node is the object's root: <c>self.metadata</c> then has only name and generateName.</param>
    /// <exception cref="CelCompileException">The expression does not parse or does not type-check.</exception>
    public static CelProgram Compile(string expression, JsonObject? selfSchema = null, bool isRoot = false)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var expr = CelParser.Parse(expression);
        var schema = selfSchema;
        if (isRoot && schema?["properties"] is JsonObject properties && properties.ContainsKey("metadata"))
        {
            schema = schema.DeepClone().AsObject();
            schema["properties"]!["metadata"] = RootMetadata.DeepClone();
        }

        var selfType = CelType.FromSchema(schema);
        var variables = new Dictionary<string, CelType>(StringComparer.Ordinal) { ["self"] = selfType, ["oldSelf"] = selfType };
        var resultType = new CelChecker(expression).Check(expr, variables);
        return new CelProgram(expression, expr, schema, isRoot, resultType);
    }

    /// <summary>Compiles a validation rule: like <see cref="Compile"/>, and the result must be a bool.</summary>
    /// <exception cref="CelCompileException">The rule does not compile or does not evaluate to a bool.</exception>
    public static CelProgram CompileRule(string rule, JsonObject? selfSchema = null, bool isRoot = false)
    {
        var program = Compile(rule, selfSchema, isRoot);
        return program.ResultType is "bool" or "dyn"
            ? program
            : throw new CelCompileException(rule, 0, $"cel expression must evaluate to a bool, found {program.ResultType}");
    }

    /// <summary>
    /// Runs the expression with <c>self</c> bound to <paramref name="self"/> (and <c>oldSelf</c> to
    /// <paramref name="oldSelf"/>); returns a CEL value: long, ulong, double, string, bool, null, <see cref="CelList"/>
    /// or <see cref="CelMap"/>.
    /// </summary>
    /// <exception cref="CelEvaluationException">The evaluation failed (no such key, overflow, ...).</exception>
    public object? Evaluate(JsonNode? self, JsonNode? oldSelf = null)
    {
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal) { ["self"] = ToValue(self) };
        if (UsesOldSelf)
        {
            variables["oldSelf"] = ToValue(oldSelf);
        }

        return CelInterpreter.Evaluate(_expr, variables);
    }

    private object? ToValue(JsonNode? node)
    {
        if (_isRoot && node is JsonObject { } root && root["metadata"] is JsonObject metadata)
        {
            // At the root, Kubernetes exposes only metadata.name and metadata.generateName to rules.
            var visible = new JsonObject();
            foreach (var field in new[] { "name", "generateName" }.Where(metadata.ContainsKey))
            {
                visible[field] = metadata[field]?.DeepClone();
            }

            var copy = new JsonObject(root.Where(kv => kv.Key != "metadata").Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
            copy["metadata"] = visible;
            node = copy;
        }

        return CelValues.FromJson(node, _schema);
    }

    private static bool References(CelExpr expr, string name) => expr switch
    {
        CelIdent ident => ident.Name == name,
        CelSelect select => References(select.Operand, name),
        CelIndex index => References(index.Operand, name) || References(index.Key, name),
        CelUnary unary => References(unary.Operand, name),
        CelBinary binary => References(binary.Left, name) || References(binary.Right, name),
        CelConditional c => References(c.Condition, name) || References(c.WhenTrue, name) || References(c.WhenFalse, name),
        CelListLiteral list => list.Items.Any(i => References(i, name)),
        CelMapLiteral map => map.Entries.Any(e => References(e.Key, name) || References(e.Value, name)),
        CelCall call => (call.Target is not null && References(call.Target, name)) || call.Args.Any(a => References(a, name)),
        CelComprehension c => References(c.Range, name) || (c.Variable != name && (References(c.Body, name) || (c.Filter is not null && References(c.Filter, name)))),
        _ => false,
    };
}
