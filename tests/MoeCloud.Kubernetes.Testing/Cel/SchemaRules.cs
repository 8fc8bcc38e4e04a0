using System.Text.Json.Nodes;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>One failed validation, as a Kubernetes field error: path, reason (FieldValueInvalid, ...) and message body.</summary>
/// <param name="Field">The field path ("spec.architecture"); empty for the object's root.</param>
/// <param name="Reason">The cause reason: FieldValueInvalid, FieldValueForbidden, FieldValueRequired or FieldValueDuplicate.</param>
/// <param name="Message">The error body, e.g. <c>Invalid value: "object": topK must not exceed experts</c>.</param>
public sealed record FieldError(string Field, string Reason, string Message)
{
    /// <summary>"field: body", as the API server writes it into a Status message.</summary>
    public override string ToString() => Field.Length == 0 ? Message : $"{Field}: {Message}";
}

/// <summary>A CustomResourceDefinition whose validation rules do not compile; <see cref="Errors"/> says which and why.</summary>
public sealed class InvalidRulesException(IReadOnlyList<string> errors)
    : Exception(string.Join("; ", errors))
{
    /// <summary>One entry per rule that failed to compile, with its path in the CRD.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The <c>x-kubernetes-validations</c> rules of one structural schema, compiled once when the CRD is registered and
/// evaluated on every create and update: each rule at its own schema node, only where the object has that node;
/// transition rules (those using <c>oldSelf</c>) only on update and only where the old object had the node. Like
/// Kubernetes' validation ratcheting, a rule that does not use oldSelf is skipped on update when its node's value is
/// unchanged, so a status write is not refused for a spec that was valid under an older CRD.
/// </summary>
public sealed class SchemaRules
{
    private const string Blocked = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";
    private static readonly HashSet<string> Reasons = ["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"];

    private readonly RuleNode? _root;

    private SchemaRules(RuleNode? root) => _root = root;

    /// <summary>Whether the schema has no rules at all.</summary>
    public bool IsEmpty => _root is null;

    /// <summary>How many rules the schema holds.</summary>
    public int Count => _root?.Count ?? 0;

    /// <summary>Compiles every rule of <paramref name="schema"/>.</summary>
    /// <param name="schema">An openAPIV3Schema.</param>
    /// <param name="schemaPath">Where the schema sits in its CRD, for error messages ("spec.versions[0].schema.openAPIV3Schema").</param>
    /// <exception cref="InvalidRulesException">A rule does not compile, a transition rule sits where old values cannot be correlated, or a rule's fields are invalid.</exception>
    public static SchemaRules Compile(JsonObject schema, string schemaPath = "openAPIV3Schema")
    {
        var errors = new List<string>();
        var root = CompileNode(schema, schemaPath, isRoot: true, correlatable: true, errors);
        return errors.Count > 0 ? throw new InvalidRulesException(errors) : new SchemaRules(root);
    }

    /// <summary>
    /// Evaluates the rules over <paramref name="obj"/> (already defaulted and pruned); <paramref name="old"/> is the
    /// stored object on update and null on create. Returns the failures, empty when every rule holds.
    /// </summary>
    public IReadOnlyList<FieldError> Validate(JsonObject obj, JsonObject? old)
    {
        var state = new ValidationState();
        if (_root is not null)
        {
            Walk(_root, obj, old, old is not null, "", state);
        }

        return state.Blocked ? [new FieldError("", "FieldValueInvalid", Blocked)] : state.Errors;
    }

    private static RuleNode? CompileNode(JsonObject schema, string path, bool isRoot, bool correlatable, List<string> errors)
    {
        var node = new RuleNode(schema);
        if (schema["x-kubernetes-validations"] is JsonArray rules)
        {
            for (var i = 0; i < rules.Count; i++)
            {
                if (CompileRule(rules[i] as JsonObject, schema, $"{path}.x-kubernetes-validations[{i}]", isRoot, correlatable, errors) is { } rule)
                {
                    node.Rules.Add(rule);
                }
            }
        }
        else if (schema["x-kubernetes-validations"] is not null)
        {
            errors.Add($"{path}.x-kubernetes-validations: Invalid value: must be a list of rules");
        }

        foreach (var (name, property) in schema["properties"] as JsonObject ?? [])
        {
            if (!(isRoot && name == "metadata") && property is JsonObject child
                && CompileNode(child, $"{path}.properties[{name}]", false, correlatable, errors) is { } compiled)
            {
                node.Properties[name] = compiled;
            }
        }

        if (schema["items"] is JsonObject items)
        {
            var isMapList = (string?)schema["x-kubernetes-list-type"] == "map";
            node.Items = CompileNode(items, $"{path}.items", false, correlatable && isMapList, errors);
            node.MapKeys = isMapList ? (schema["x-kubernetes-list-map-keys"] as JsonArray ?? []).Select(k => (string)k!).ToList() : null;
        }

        if (schema["additionalProperties"] is JsonObject additional)
        {
            node.Additional = CompileNode(additional, $"{path}.additionalProperties", false, correlatable, errors);
        }

        return node.Rules.Count > 0 || node.Properties.Count > 0 || node.Items is not null || node.Additional is not null ? node : null;
    }

    private static Rule? CompileRule(JsonObject? spec, JsonObject schema, string path, bool isRoot, bool correlatable, List<string> errors)
    {
        var text = (string?)spec?["rule"];
        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add($"{path}.rule: Required value");
            return null;
        }

        var message = (string?)spec!["message"];
        var reason = (string?)spec["reason"] ?? "FieldValueInvalid";
        var fieldPath = (string?)spec["fieldPath"];
        var problems = new List<string>();
        if (message is null && text.Contains('\n', StringComparison.Ordinal))
        {
            problems.Add($"{path}.message: Required value: message must be specified if rule contains line breaks");
        }

        if (message is not null && message.Contains('\n', StringComparison.Ordinal))
        {
            problems.Add($"{path}.message: Invalid value: \"{message}\": message must not contain line breaks");
        }

        if (!Reasons.Contains(reason))
        {
            problems.Add($"{path}.reason: Unsupported value: \"{reason}\": supported values: {string.Join(", ", Reasons.Select(r => $"\"{r}\""))}");
        }

        List<string>? fieldSegments = null;
        if (fieldPath is not null)
        {
            fieldSegments = FieldPathSegments(fieldPath, schema);
            if (fieldSegments is null)
            {
                problems.Add($"{path}.fieldPath: Invalid value: \"{fieldPath}\": fieldPath must be a valid path to a field the schema declares (.name or ['name'] steps)");
            }
        }

        CelProgram? program = null;
        try
        {
            program = CelProgram.CompileRule(text, schema, isRoot);
            if (program.UsesOldSelf && !correlatable)
            {
                problems.Add($"{path}.rule: Invalid value: \"{text}\": oldSelf cannot be used on the uncorrelatable portion of the schema (inside a list that is not x-kubernetes-list-type: map)");
            }
        }
        catch (CelCompileException e)
        {
            problems.Add($"{path}.rule: Invalid value: \"{text}\": compilation failed: {e.Message}");
        }

        CelProgram? messageExpression = null;
        if ((string?)spec["messageExpression"] is { } expression)
        {
            try
            {
                messageExpression = CelProgram.Compile(expression, schema, isRoot);
                if (messageExpression.ResultType is not ("string" or "dyn"))
                {
                    problems.Add($"{path}.messageExpression: Invalid value: \"{expression}\": must evaluate to a string, found {messageExpression.ResultType}");
                }
            }
            catch (CelCompileException e)
            {
                problems.Add($"{path}.messageExpression: Invalid value: \"{expression}\": compilation failed: {e.Message}");
            }
        }

        errors.AddRange(problems);
        return problems.Count > 0 ? null : new Rule(program!, text.Trim(), message?.Trim(), messageExpression, reason, fieldSegments);
    }

    /// <summary>The property names along a rule's fieldPath (".a.b", ".a['b.c']"), or null when it names no declared field.</summary>
    private static List<string>? FieldPathSegments(string fieldPath, JsonObject schema)
    {
        var segments = new List<string>();
        var rest = fieldPath.Trim();
        var node = schema;
        while (rest.Length > 0)
        {
            string name;
            if (rest.StartsWith("['", StringComparison.Ordinal) && rest.IndexOf("']", 2, StringComparison.Ordinal) is var close and > 2)
            {
                name = rest[2..close];
                rest = rest[(close + 2)..];
            }
            else if (rest[0] == '.')
            {
                var end = rest.IndexOfAny(['.', '['], 1);
                name = end < 0 ? rest[1..] : rest[1..end];
                rest = end < 0 ? "" : rest[end..];
            }
            else
            {
                return null;
            }

            if (name.Length == 0 || node?["properties"]?[name] is not JsonObject child)
            {
                return null;
            }

            segments.Add(name);
            node = child;
        }

        return segments.Count > 0 ? segments : null;
    }

    private static void Walk(RuleNode node, JsonNode? value, JsonNode? old, bool hasOld, string path, ValidationState state)
    {
        if (value is null)
        {
            return;
        }

        if (node.Schema["x-kubernetes-int-or-string"] is null && (string?)node.Schema["type"] is { } type && !StructuralSchema.HasType(value, type))
        {
            state.Blocked = true;
            return;
        }

        foreach (var rule in node.Rules)
        {
            Evaluate(rule, node.Schema, value, old, hasOld, path, state);
        }

        switch (value)
        {
            case JsonObject obj:
                var oldObj = hasOld ? old as JsonObject : null;
                foreach (var (name, child) in node.Properties)
                {
                    if (obj.TryGetPropertyValue(name, out var childValue))
                    {
                        var hadOld = oldObj is not null && oldObj.ContainsKey(name);
                        Walk(child, childValue, hadOld ? oldObj![name] : null, hadOld, Join(path, name), state);
                    }
                }

                if (node.Additional is { } additional)
                {
                    foreach (var (key, childValue) in obj)
                    {
                        var hadOld = oldObj is not null && oldObj.ContainsKey(key);
                        Walk(additional, childValue, hadOld ? oldObj![key] : null, hadOld, $"{path}[{key}]", state);
                    }
                }

                break;
            case JsonArray array when node.Items is { } items:
                var oldArray = hasOld ? old as JsonArray : null;
                for (var i = 0; i < array.Count; i++)
                {
                    var oldItem = node.MapKeys is { } keys && oldArray is not null ? Correlate(array[i], oldArray, keys) : null;
                    Walk(items, array[i], oldItem, oldItem is not null, $"{path}[{i}]", state);
                }

                break;
        }
    }

    /// <summary>The element of an x-kubernetes-list-type: map list with the same key values (null when there is none).</summary>
    private static JsonNode? Correlate(JsonNode? item, JsonArray oldItems, List<string> keys) =>
        item is JsonObject obj
            ? oldItems.FirstOrDefault(o => o is JsonObject old && keys.All(k => JsonNode.DeepEquals(obj[k], old[k])))
            : null;

    private static void Evaluate(Rule rule, JsonObject schema, JsonNode value, JsonNode? old, bool hasOld, string path, ValidationState state)
    {
        if (rule.Program.UsesOldSelf && !hasOld)
        {
            return;
        }

        if (hasOld && !rule.Program.UsesOldSelf && JsonNode.DeepEquals(value, old))
        {
            return;
        }

        var field = rule.FieldPath is null ? path : rule.FieldPath.Aggregate(path, Join);
        var typeName = (string?)schema["type"] ?? "object";
        object? result;
        try
        {
            result = rule.Program.Evaluate(value, old);
        }
        catch (CelEvaluationException e)
        {
            state.Errors.Add(new FieldError(field, "FieldValueInvalid", $"Invalid value: \"{typeName}\": {e.Message} evaluating rule: {rule.Message ?? rule.Text}"));
            return;
        }

        if (result is true)
        {
            return;
        }

        var detail = MessageFromExpression(rule, value, old) ?? rule.Message ?? $"failed rule: {rule.Text}";
        var body = rule.Reason switch
        {
            "FieldValueForbidden" => $"Forbidden: {detail}",
            "FieldValueRequired" => $"Required value: {detail}",
            "FieldValueDuplicate" => $"Duplicate value: \"{typeName}\"",
            _ => $"Invalid value: \"{typeName}\": {detail}",
        };
        state.Errors.Add(new FieldError(field, rule.Reason, body));
    }

    /// <summary>The rule's messageExpression's value; null (falling back to message) when it fails or is blank, as in Kubernetes.</summary>
    private static string? MessageFromExpression(Rule rule, JsonNode value, JsonNode? old)
    {
        try
        {
            return rule.MessageExpression?.Evaluate(value, old) is string { } message && !string.IsNullOrWhiteSpace(message) && !message.Contains('\n', StringComparison.Ordinal)
                ? message.Trim()
                : null;
        }
        catch (CelEvaluationException)
        {
            return null;
        }
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private sealed class RuleNode(JsonObject schema)
    {
        public JsonObject Schema { get; } = schema;

        public List<Rule> Rules { get; } = [];

        public Dictionary<string, RuleNode> Properties { get; } = new(StringComparer.Ordinal);

        public RuleNode? Items { get; set; }

        public List<string>? MapKeys { get; set; }

        public RuleNode? Additional { get; set; }

        public int Count => Rules.Count + Properties.Values.Sum(p => p.Count) + (Items?.Count ?? 0) + (Additional?.Count ?? 0);
    }

    private sealed record Rule(CelProgram Program, string Text, string? Message, CelProgram? MessageExpression, string Reason, List<string>? FieldPath);

    private sealed class ValidationState
    {
        public List<FieldError> Errors { get; } = [];

        public bool Blocked { get; set; }
    }
}
