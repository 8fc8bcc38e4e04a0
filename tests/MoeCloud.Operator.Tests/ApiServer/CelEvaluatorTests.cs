using System.Text.Json.Nodes;
using MoeCloud.Kubernetes.Testing.Cel;

namespace MoeCloud.Operator.Tests.ApiServer;

/// <summary>The in-process API server's CEL evaluator: syntax, type checks, operator semantics, errors.</summary>
public sealed class CelEvaluatorTests
{
    [Theory]
    [InlineData("1 + 2 * 3", 7L)]
    [InlineData("(1 + 2) * 3", 9L)]
    [InlineData("7 / 2", 3L)]
    [InlineData("-7 / 2", -3L)]
    [InlineData("7 % 3", 1L)]
    [InlineData("-7 % 3", -1L)]
    [InlineData("10 - 2 - 3", 5L)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("0x1F", 31L)]
    [InlineData("--3", 3L)]
    [InlineData("size('héllo')", 5L)]
    [InlineData("'hello'.size()", 5L)]
    [InlineData("size([1, 2, 3])", 3L)]
    [InlineData("size({'a': 1})", 1L)]
    [InlineData("{'a': 1, 'b': 2}['b']", 2L)]
    [InlineData("[10, 20, 30][1]", 20L)]
    [InlineData("true ? 1 : 2", 1L)]
    [InlineData("false ? 1 : 1 < 2 ? 3 : 4", 3L)]
    [InlineData("int('42') + int(2.9) + int(3u)", 47L)]
    [InlineData("[1, 2, 3].map(x, x * 2)[2]", 6L)]
    [InlineData("size([1, 2, 3].map(x, x > 1, x * 10))", 2L)]
    [InlineData("size([1, 2, 3].filter(x, x > 1))", 2L)]
    public void Evaluate_WhenIntExpression_ReturnsInt(string expression, long expected) =>
        Assert.Equal(expected, Evaluate(expression));

    [Theory]
    [InlineData("7.0 / 2.0", 3.5)]
    [InlineData("1e3", 1000.0)]
    [InlineData("-.5 * 2.0", -1.0)]
    [InlineData("double(3) + 0.25", 3.25)]
    [InlineData("1.0 / 0.0", double.PositiveInfinity)]
    public void Evaluate_WhenDoubleExpression_ReturnsDouble(string expression, double expected) =>
        Assert.Equal(expected, Evaluate(expression));

    [Theory]
    [InlineData("'a' + 'b' + \"c\"", "abc")]
    [InlineData("'\\x41\\u00e9\\n'", "Aé\n")]
    [InlineData("r'\\d+'", "\\d+")]
    [InlineData("'''it's'''", "it's")]
    [InlineData("string(12) + string(true) + string(2u)", "12true2")]
    public void Evaluate_WhenStringExpression_ReturnsString(string expression, string expected) =>
        Assert.Equal(expected, Evaluate(expression));

    [Theory]
    [InlineData("1 < 2", true)]
    [InlineData("2 <= 1", false)]
    [InlineData("1 < 1.5", true)]
    [InlineData("2u > 1", true)]
    [InlineData("-1 < 0u", true)]
    [InlineData("9223372036854775807 < 9223372036854775808.0", true)]
    [InlineData("'abc' < 'abd'", true)]
    [InlineData("false < true", true)]
    [InlineData("1 == 1 && 1 != 2", true)]
    [InlineData("null == null", true)]
    [InlineData("[1, 2] == [1, 2]", true)]
    [InlineData("[1, 2] == [2, 1]", false)]
    [InlineData("{'a': [1]} == {'a': [1]}", true)]
    [InlineData("{'a': 1} == {'a': 2}", false)]
    [InlineData("!false && !!true", true)]
    [InlineData("true || false && false", true)]
    [InlineData("2 in [1, 2]", true)]
    [InlineData("3 in [1, 2]", false)]
    [InlineData("'a' in {'a': 1}", true)]
    [InlineData("'b' in {'a': 1}", false)]
    [InlineData("[1, 2, 3].all(x, x > 0)", true)]
    [InlineData("[1, 2, 3].all(x, x > 1)", false)]
    [InlineData("[1, 2, 3].exists(x, x == 2)", true)]
    [InlineData("[].exists(x, x == 2)", false)]
    [InlineData("[1, 2, 3].exists_one(x, x > 1)", false)]
    [InlineData("[1, 2, 3].exists_one(x, x > 2)", true)]
    [InlineData("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])", true)]
    [InlineData("[[1], [2, 3]].exists(l, l.exists(x, x == 3))", true)]
    [InlineData("'abc'.startsWith('ab') && 'abc'.endsWith('bc') && 'abc'.contains('b')", true)]
    [InlineData("'abc'.startsWith('bc')", false)]
    [InlineData("'abc123'.matches('^[a-z]+[0-9]+$')", true)]
    [InlineData("'xabcx'.matches('abc')", true)]
    [InlineData("'xabcx'.matches('^abc$')", false)]
    [InlineData("matches('a1', '[0-9]')", true)]
    [InlineData("bool('true') && !bool('false')", true)]
    [InlineData("dyn(1) == 1.0", true)]
    // Errors are absorbed by && and || when the other side decides the result, in either order.
    [InlineData("false && 1 / 0 == 1", false)]
    [InlineData("1 / 0 == 1 && false", false)]
    [InlineData("true || {'a': 1}['b'] == 1", true)]
    [InlineData("{'a': 1}['b'] == 1 || true", true)]
    [InlineData("[0, 1].exists(x, 1 / x == 1)", true)]
    [InlineData("[0, 2].all(x, 1 / x == 1)", false)]
    public void Evaluate_WhenBoolExpression_ReturnsBool(string expression, bool expected) =>
        Assert.Equal(expected, Evaluate(expression));

    [Theory]
    [InlineData("1 / 0 == 1", "division by zero")]
    [InlineData("1 % 0 == 1", "modulus by zero")]
    [InlineData("9223372036854775807 + 1 > 0", "integer overflow")]
    [InlineData("-9223372036854775807 - 2 < 0", "integer overflow")]
    [InlineData("0u - 1u > 0u", "unsigned integer overflow")]
    [InlineData("[1][3] == 1", "index out of bounds: 3")]
    [InlineData("{'a': 1}['b'] == 1", "no such key: b")]
    [InlineData("{'a': 1}.b == 1", "no such key: b")]
    [InlineData("[0].all(x, 1 / x == 1)", "division by zero")]
    [InlineData("int('x') == 1", "type conversion error")]
    [InlineData("{'a': 1, 'a': 2}.size() == 1", "repeated key")]
    [InlineData("dyn(1) + dyn(1.0) == 2", "no such overload")]
    [InlineData("dyn('a') < dyn(1)", "no such overload")]
    [InlineData("1 / 0 == 1 || false", "division by zero")]
    public void Evaluate_WhenRuntimeError_ThrowsWithCelMessage(string expression, string expected)
    {
        var e = Assert.Throws<CelEvaluationException>(() => Evaluate(expression));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "the expression is empty")]
    [InlineData("self ==", "unexpected end of expression")]
    [InlineData("self.", "expected a field or method name")]
    [InlineData("1 +", "unexpected end of expression")]
    [InlineData("self.a = 1", "did you mean '=='?")]
    [InlineData("true & false", "did you mean '&&'?")]
    [InlineData("'unterminated", "unterminated string literal")]
    [InlineData("(1 + 2", "expected ')'")]
    [InlineData("1 + 2)", "extraneous input ')'")]
    [InlineData("has(self)", "invalid argument to has() macro")]
    [InlineData("[1, 2].all(1, true)", "must be a simple variable name")]
    [InlineData("self.in == 1", "'in' is a reserved word")]
    [InlineData("while", "'while' is a reserved word")]
    [InlineData("Foo{a: 1}", "message construction")]
    [InlineData("99999999999999999999", "out of range")]
    [InlineData("9223372036854775808", "out of range")]
    [InlineData("'\\q'", "invalid escape sequence")]
    [InlineData("b'bytes'", "bytes literals are not supported")]
    [InlineData("1 ? 2", "expected ':'")]
    [InlineData("1 # 2", "token recognition error")]
    public void Compile_WhenSyntaxError_ThrowsWithPosition(string expression, string expected)
    {
        var e = Assert.Throws<CelCompileException>(() => CelProgram.Compile(expression));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.StartsWith("ERROR: <input>:1:", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("foo == 1", "undeclared reference to 'foo'")]
    [InlineData("self.name.unknownFn()", "undeclared reference to 'unknownFn'")]
    [InlineData("size(1) == 1", "found no matching overload for 'size' applied to '(int)'")]
    [InlineData("'a' + 1 == 'a1'", "found no matching overload for '_+_' applied to '(string, int)'")]
    [InlineData("1 == 'a'", "found no matching overload for '_==_' applied to '(int, string)'")]
    [InlineData("1 == 1.0", "found no matching overload for '_==_' applied to '(int, double)'")]
    [InlineData("!1", "found no matching overload for '!_' applied to '(int)'")]
    [InlineData("1 && true", "found no matching overload for '_&&_'")]
    [InlineData("1.5 % 2.0 == 0.5", "found no matching overload for '_%_'")]
    [InlineData("'a'.matches('(') ", "invalid regular expression")]
    [InlineData("1.size() == 1", "found no matching overload for 'size'")]
    [InlineData("x.all(y, true)", "undeclared reference to 'x'")]
    [InlineData("[1].all(x, 1)", "expected type 'bool' but found 'int'")]
    [InlineData("(1).all(x, true)", "cannot be the range of a comprehension")]
    [InlineData("[1].all(x, true) && x == 1", "undeclared reference to 'x'")]
    public void Compile_WhenTypeError_Throws(string expression, string expected)
    {
        var e = Assert.Throws<CelCompileException>(() => CelProgram.Compile(expression));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CompileRule_WhenResultIsNotBool_Throws()
    {
        var e = Assert.Throws<CelCompileException>(() => CelProgram.CompileRule("1 + 1"));
        Assert.Contains("must evaluate to a bool, found int", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("self.topk <= self.experts", "undefined field 'topk'")]
    [InlineData("self.experts.size() > 0", "found no matching overload for 'size' applied to '(int)'")]
    [InlineData("self.experts == 'many'", "found no matching overload for '_==_' applied to '(int, string)'")]
    [InlineData("self.name.x == 1", "type 'string' does not support field selection")]
    [InlineData("has(self.nope)", "undefined field 'nope'")]
    [InlineData("self.tags.all(t, t)", "expected type 'bool' but found 'string'")]
    [InlineData("self.tags.all(t, t.foo == 1)", "type 'string' does not support field selection")]
    [InlineData("self.labels.x > 1", "found no matching overload for '_>_' applied to '(string, int)'")]
    public void Compile_WhenFieldsDoNotFitTheSchema_Throws(string expression, string expected)
    {
        var e = Assert.Throws<CelCompileException>(() => CelProgram.CompileRule(expression, Schema()));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("self.experts == 8 && self.ratio == 2.0", true)]
    [InlineData("self.ratio / 4.0 == 0.5", true)]
    [InlineData("self.experts / 3 == 2", true)]
    [InlineData("has(self.name) && !has(self.topk__dash__limit)", true)]
    [InlineData("self.tags.all(t, t.startsWith('x'))", true)]
    [InlineData("self.labels['a'] == 'b' && 'a' in self.labels", true)]
    [InlineData("self.labels.a == 'b'", true)]
    [InlineData("self.ratio > self.experts", false)]
    public void Evaluate_WhenSchemaTyped_ReadsTheObject(string expression, bool expected)
    {
        var self = JsonNode.Parse("""{"name": "n", "experts": 8, "ratio": 2, "tags": ["xa", "xb"], "labels": {"a": "b"}}""");
        Assert.Equal(expected, CelProgram.CompileRule(expression, Schema()).Evaluate(self));
    }

    [Fact]
    public void Evaluate_WhenFieldMissing_FailsWithNoSuchKey()
    {
        var program = CelProgram.CompileRule("self.experts > 0", Schema());
        var e = Assert.Throws<CelEvaluationException>(() => program.Evaluate(JsonNode.Parse("""{"name": "n"}""")));
        Assert.Equal("no such key: experts", e.Message);
    }

    [Fact]
    public void Evaluate_WhenPropertyNameNeedsEscaping_UsesKubernetesEscapes()
    {
        var program = CelProgram.CompileRule("self.topk__dash__limit == 3 && self.__namespace__ == 'x' && self.a__dot__b == 1", Schema());
        Assert.Equal(true, program.Evaluate(JsonNode.Parse("""{"topk-limit": 3, "namespace": "x", "a.b": 1}""")));
    }

    [Fact]
    public void Evaluate_WhenOldSelf_ComparesOldAndNewAndSetListsIgnoreOrder()
    {
        var program = CelProgram.CompileRule("self == oldSelf", Schema());
        Assert.True(program.UsesOldSelf);
        Assert.False(CelProgram.CompileRule("self.experts > 0", Schema()).UsesOldSelf);
        Assert.False(CelProgram.CompileRule("[1].all(oldSelf, oldSelf > 0)").UsesOldSelf);
        Assert.Equal(true, program.Evaluate(JsonNode.Parse("""{"set": [1, 2], "experts": 1}"""), JsonNode.Parse("""{"set": [2, 1], "experts": 1}""")));
        Assert.Equal(false, program.Evaluate(JsonNode.Parse("""{"tags": ["a", "b"]}"""), JsonNode.Parse("""{"tags": ["b", "a"]}""")));
        Assert.Equal(false, program.Evaluate(JsonNode.Parse("""{"experts": 1}"""), JsonNode.Parse("""{"experts": 2}""")));
    }

    [Fact]
    public void Evaluate_WhenRuleAtRoot_SeesOnlyNameAndGenerateNameOfMetadata()
    {
        var root = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject { ["metadata"] = new JsonObject { ["type"] = "object" }, ["spec"] = Schema() },
        };
        var self = JsonNode.Parse("""{"metadata": {"name": "a", "namespace": "ns"}, "spec": {"experts": 2}}""");
        Assert.Equal(true, CelProgram.CompileRule("self.metadata.name == 'a' && !has(self.metadata.generateName)", root, isRoot: true).Evaluate(self));
        var e = Assert.Throws<CelCompileException>(() => CelProgram.CompileRule("self.metadata.labels == {}", root, isRoot: true));
        Assert.Contains("undefined field 'labels'", e.Message, StringComparison.Ordinal);
    }

    private static object? Evaluate(string expression) => CelProgram.Compile(expression).Evaluate(null);

    private static JsonObject Schema() => (JsonObject)JsonNode.Parse("""
        {
          "type": "object",
          "properties": {
            "name": {"type": "string"},
            "experts": {"type": "integer"},
            "ratio": {"type": "number"},
            "topk-limit": {"type": "integer"},
            "namespace": {"type": "string"},
            "a.b": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "integer"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}
          }
        }
        """)!;
}
