namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>A node of a parsed CEL expression; <see cref="Position"/> is its character offset in the source.</summary>
internal abstract record CelExpr(int Position);

/// <summary>A literal: long (int), ulong (uint), double, string, bool or null.</summary>
internal sealed record CelLiteral(int Position, object? Value) : CelExpr(Position);

/// <summary>A variable: self, oldSelf, or a comprehension's iteration variable.</summary>
internal sealed record CelIdent(int Position, string Name) : CelExpr(Position);

/// <summary><c>operand.field</c>, or <c>has(operand.field)</c> when <see cref="TestOnly"/>.</summary>
internal sealed record CelSelect(int Position, CelExpr Operand, string Field, bool TestOnly) : CelExpr(Position);

/// <summary><c>operand[index]</c>.</summary>
internal sealed record CelIndex(int Position, CelExpr Operand, CelExpr Key) : CelExpr(Position);

/// <summary>A function call: global (<c>size(x)</c>) when <see cref="Target"/> is null, else a member call (<c>x.size()</c>).</summary>
internal sealed record CelCall(int Position, CelExpr? Target, string Function, IReadOnlyList<CelExpr> Args) : CelExpr(Position);

/// <summary>A unary operator: "!" or "-".</summary>
internal sealed record CelUnary(int Position, string Operator, CelExpr Operand) : CelExpr(Position);

/// <summary>A binary operator: arithmetic, comparison, <c>in</c>, <c>&amp;&amp;</c> or <c>||</c>.</summary>
internal sealed record CelBinary(int Position, string Operator, CelExpr Left, CelExpr Right) : CelExpr(Position);

/// <summary><c>condition ? whenTrue : whenFalse</c>.</summary>
internal sealed record CelConditional(int Position, CelExpr Condition, CelExpr WhenTrue, CelExpr WhenFalse) : CelExpr(Position);

/// <summary>A list literal.</summary>
internal sealed record CelListLiteral(int Position, IReadOnlyList<CelExpr> Items) : CelExpr(Position);

/// <summary>A map literal.</summary>
internal sealed record CelMapLiteral(int Position, IReadOnlyList<(CelExpr Key, CelExpr Value)> Entries) : CelExpr(Position);

/// <summary>
/// A macro over a list or map: all, exists, exists_one, filter or map (with an optional <see cref="Filter"/> for the
/// three-argument map).
/// </summary>
internal sealed record CelComprehension(int Position, string Macro, CelExpr Range, string Variable, CelExpr Body, CelExpr? Filter) : CelExpr(Position);
