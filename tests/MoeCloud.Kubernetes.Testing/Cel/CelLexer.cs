using System.Globalization;
using System.Text;

namespace MoeCloud.Kubernetes.Testing.Cel;

/// <summary>The kinds of token of the CEL grammar.</summary>
internal enum CelTokenKind
{
    End,
    Identifier,
    Int,
    UInt,
    Double,
    String,
    Punct,
}

/// <summary>One token: its kind, its text (operator, identifier, decoded string) or value, and where it starts.</summary>
internal sealed record CelToken(CelTokenKind Kind, string Text, object? Value, int Position);

/// <summary>Splits a CEL expression into tokens (https://github.com/google/cel-spec/blob/master/doc/langdef.md#syntax).</summary>
internal sealed class CelLexer(string source)
{
    private static readonly string[] Puncts = ["==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "+", "-", "*", "/", "%", "!", "<", ">"];
    private int _pos;

    /// <summary>Every token of the source, ending with an <see cref="CelTokenKind.End"/> token.</summary>
    public List<CelToken> Tokenize()
    {
        var tokens = new List<CelToken>();
        while (true)
        {
            SkipSpaceAndComments();
            if (_pos >= source.Length)
            {
                tokens.Add(new CelToken(CelTokenKind.End, "<EOF>", null, _pos));
                return tokens;
            }

            tokens.Add(Next());
        }
    }

    private CelToken Next()
    {
        var c = source[_pos];
        var start = _pos;
        if (char.IsAsciiDigit(c) || (c == '.' && _pos + 1 < source.Length && char.IsAsciiDigit(source[_pos + 1])))
        {
            return Number();
        }

        if (c is '\'' or '"')
        {
            return StringLiteral(start, raw: false);
        }

        if (char.IsAsciiLetter(c) || c == '_')
        {
            var prefix = PrefixLength();
            if (prefix > 0)
            {
                var prefixText = source.Substring(_pos, prefix).ToLowerInvariant();
                if (prefixText.Contains('b', StringComparison.Ordinal))
                {
                    throw new CelCompileException(source, start, "bytes literals are not supported by this evaluator");
                }

                _pos += prefix;
                return StringLiteral(start, raw: true);
            }

            while (_pos < source.Length && (char.IsAsciiLetterOrDigit(source[_pos]) || source[_pos] == '_'))
            {
                _pos++;
            }

            return new CelToken(CelTokenKind.Identifier, source[start.._pos], null, start);
        }

        foreach (var punct in Puncts)
        {
            if (string.CompareOrdinal(source, _pos, punct, 0, punct.Length) == 0)
            {
                _pos += punct.Length;
                return new CelToken(CelTokenKind.Punct, punct, null, start);
            }
        }

        var hint = c switch
        {
            '=' => " (did you mean '=='?)",
            '&' => " (did you mean '&&'?)",
            '|' => " (did you mean '||'?)",
            _ => "",
        };
        throw new CelCompileException(source, start, $"Syntax error: token recognition error at: '{c}'{hint}");
    }

    /// <summary>Length of a string prefix (r, b, rb, br in any case) directly followed by a quote; 0 when there is none.</summary>
    private int PrefixLength()
    {
        for (var length = 1; length <= 2 && _pos + length < source.Length; length++)
        {
            var prefix = source.Substring(_pos, length).ToLowerInvariant();
            if (prefix is not ("r" or "b" or "rb" or "br"))
            {
                return 0;
            }

            if (source[_pos + length] is '\'' or '"')
            {
                return length;
            }
        }

        return 0;
    }

    private CelToken Number()
    {
        var start = _pos;
        if (source[_pos] == '0' && _pos + 1 < source.Length && source[_pos + 1] is 'x' or 'X')
        {
            _pos += 2;
            var digitsStart = _pos;
            while (_pos < source.Length && char.IsAsciiHexDigit(source[_pos]))
            {
                _pos++;
            }

            if (_pos == digitsStart)
            {
                throw new CelCompileException(source, start, "Syntax error: hexadecimal literal without digits");
            }

            return Integer(start, source[digitsStart.._pos], NumberStyles.AllowHexSpecifier);
        }

        var isDouble = false;
        SkipDigits();
        if (_pos + 1 < source.Length && source[_pos] == '.' && char.IsAsciiDigit(source[_pos + 1]))
        {
            isDouble = true;
            _pos++;
            SkipDigits();
        }

        if (_pos < source.Length && source[_pos] is 'e' or 'E')
        {
            var save = _pos;
            _pos++;
            if (_pos < source.Length && source[_pos] is '+' or '-')
            {
                _pos++;
            }

            if (_pos < source.Length && char.IsAsciiDigit(source[_pos]))
            {
                isDouble = true;
                SkipDigits();
            }
            else
            {
                _pos = save;
            }
        }

        if (isDouble)
        {
            var text = source[start.._pos];
            return new CelToken(CelTokenKind.Double, text, double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture), start);
        }

        return Integer(start, source[start.._pos], NumberStyles.None);
    }

    private CelToken Integer(int start, string digits, NumberStyles style)
    {
        if (!ulong.TryParse(digits, style, CultureInfo.InvariantCulture, out var value))
        {
            throw new CelCompileException(source, start, $"Syntax error: integer literal {digits} is out of range");
        }

        if (_pos < source.Length && source[_pos] is 'u' or 'U')
        {
            _pos++;
            return new CelToken(CelTokenKind.UInt, source[start.._pos], value, start);
        }

        // The magnitude 2^63 is only valid under a unary minus; the parser checks that.
        return new CelToken(CelTokenKind.Int, source[start.._pos], value, start);
    }

    private void SkipDigits()
    {
        while (_pos < source.Length && char.IsAsciiDigit(source[_pos]))
        {
            _pos++;
        }
    }

    private CelToken StringLiteral(int start, bool raw)
    {
        var quote = source[_pos];
        var triple = _pos + 2 < source.Length && source[_pos + 1] == quote && source[_pos + 2] == quote;
        _pos += triple ? 3 : 1;
        var text = new StringBuilder();
        while (true)
        {
            if (_pos >= source.Length)
            {
                throw new CelCompileException(source, start, "Syntax error: unterminated string literal");
            }

            var c = source[_pos];
            if (triple ? string.CompareOrdinal(source, _pos, new string(quote, 3), 0, 3) == 0 : c == quote)
            {
                _pos += triple ? 3 : 1;
                return new CelToken(CelTokenKind.String, text.ToString(), text.ToString(), start);
            }

            if (!triple && c is '\n' or '\r')
            {
                throw new CelCompileException(source, start, "Syntax error: unterminated string literal (use a triple-quoted string for newlines)");
            }

            if (c == '\\' && !raw)
            {
                Escape(text);
                continue;
            }

            text.Append(c);
            _pos++;
        }
    }

    private void Escape(StringBuilder text)
    {
        var at = _pos;
        if (_pos + 1 >= source.Length)
        {
            throw new CelCompileException(source, at, "Syntax error: unterminated escape sequence");
        }

        var e = source[_pos + 1];
        _pos += 2;
        switch (e)
        {
            case 'a': text.Append('\a'); return;
            case 'b': text.Append('\b'); return;
            case 'f': text.Append('\f'); return;
            case 'n': text.Append('\n'); return;
            case 'r': text.Append('\r'); return;
            case 't': text.Append('\t'); return;
            case 'v': text.Append('\v'); return;
            case '\\' or '?' or '"' or '\'' or '`': text.Append(e); return;
            case 'x' or 'X': AppendCodePoint(text, at, ReadHex(at, 2)); return;
            case 'u': AppendCodePoint(text, at, ReadHex(at, 4)); return;
            case 'U': AppendCodePoint(text, at, ReadHex(at, 8)); return;
            case >= '0' and <= '3' when _pos + 1 < source.Length && source[_pos] is >= '0' and <= '7' && source[_pos + 1] is >= '0' and <= '7':
                text.Append((char)(((e - '0') * 64) + ((source[_pos] - '0') * 8) + (source[_pos + 1] - '0')));
                _pos += 2;
                return;
            default:
                throw new CelCompileException(source, at, $"Syntax error: invalid escape sequence '\\{e}'");
        }
    }

    private int ReadHex(int at, int digits)
    {
        if (_pos + digits > source.Length
            || !int.TryParse(source.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            throw new CelCompileException(source, at, $"Syntax error: escape sequence needs {digits} hexadecimal digits");
        }

        _pos += digits;
        return value;
    }

    private void AppendCodePoint(StringBuilder text, int at, int codePoint)
    {
        if (codePoint is > 0x10FFFF or (>= 0xD800 and <= 0xDFFF))
        {
            throw new CelCompileException(source, at, $"Syntax error: invalid code point U+{codePoint:X}");
        }

        text.Append(char.ConvertFromUtf32(codePoint));
    }

    private void SkipSpaceAndComments()
    {
        while (_pos < source.Length)
        {
            if (source[_pos] is ' ' or '\t' or '\n' or '\r' or '\f')
            {
                _pos++;
            }
            else if (source[_pos] == '/' && _pos + 1 < source.Length && source[_pos + 1] == '/')
            {
                while (_pos < source.Length && source[_pos] != '\n')
                {
                    _pos++;
                }
            }
            else
            {
                return;
            }
        }
    }
}
