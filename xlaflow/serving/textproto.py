"""A parser for the protobuf text-format subset TF Serving's config files use, into a tree.

It is schema-less on purpose (no protobuf dependency): `config.py` applies the schemas, and
every node keeps its line/column so schema errors can point at the offending field.

Grammar (what `google.protobuf.text_format` accepts, minus extensions and `Any`)::

    message := (field [',' | ';'])*
    field   := NAME ':' value | NAME [':'] ('{' message '}' | '<' message '>' | list)
    value   := scalar | '{' message '}' | '<' message '>' | list
    list    := '[' [value (',' value)*] ']'         # one entry per element

>>> msg = parse("a: 1  b { c: 'x' }  b { c: \\"y\\" }")
>>> msg.to_dict()
{'a': [1], 'b': [{'c': ['x']}, {'c': ['y']}]}
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import re

__all__ = ["Field", "Identifier", "Message", "ParseError", "parse"]

# Protobuf's own parsers stop at 100 levels; a limit here turns a RecursionError on a
# hostile or broken file into a positioned ParseError.
MAX_DEPTH = 100

_SPACE = re.compile(r"(?:[ \t\r\n\f\v]+|#[^\n]*)+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Numbers as protobuf's tokenizer sees them: hex, octal (leading 0), decimal, floats with
# an optional f/F suffix. A letter glued to a number is caught afterwards as an error.
_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f]+|(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
                   "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{1,2}")
_BOOLS = {"true": True, "True": True, "false": False, "False": False}
_FLOAT_WORDS = {"inf": math.inf, "infinity": math.inf, "nan": math.nan}
_CLOSE = {"{": "}", "<": ">"}


class ParseError(ValueError):
    """A syntax error, positioned: `<source>: line L, column C: <what went wrong>`."""

    def __init__(self, message, line, column, source=None):
        self.line, self.column, self.source = line, column, source
        where = f"line {line}, column {column}"
        super().__init__(f"{source}: {where}: {message}" if source else f"{where}: {message}")


class Identifier(str):
    """A bare word used as a value (an enum name such as `LATEST`), not a quoted string."""

    def __repr__(self):
        return f"Identifier({str.__repr__(self)})"


@dataclasses.dataclass
class Field:
    """One `name: value` (or `name { ... }`) occurrence; `line`/`column` point at the name."""

    name: str
    value: object  # str | Identifier | int | float | bool | Message
    line: int
    column: int


@dataclasses.dataclass
class Message:
    """A `{ ... }` block (or the whole file): its fields in file order, repeats included."""

    fields: list = dataclasses.field(default_factory=list)
    line: int = 1
    column: int = 1

    def get(self, name):
        """Every occurrence of field `name`, in file order (empty when absent)."""
        return [f for f in self.fields if f.name == name]

    def __iter__(self):
        return iter(self.fields)

    def to_dict(self):
        """Plain data: {name: [value, ...]} with nested messages converted too."""
        out = {}
        for f in self.fields:
            value = f.value.to_dict() if isinstance(f.value, Message) else f.value
            out.setdefault(f.name, []).append(value)
        return out


def parse(text, source=None):
    """Parse text-format `text` into a `Message`; `source` (a file name) prefixes errors."""
    return _Parser(text, source).parse()


class _Parser:
    # Tokens are produced on demand straight from the text: the files are small and a
    # separate token list would only duplicate the position bookkeeping.

    def __init__(self, text, source):
        self.text, self.source, self.pos = text, source, 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    # -- positions and errors ------------------------------------------------------------

    def where(self, pos):
        index = bisect.bisect_right(self._line_starts, pos) - 1
        return index + 1, pos - self._line_starts[index] + 1

    def error(self, message, pos=None):
        line, column = self.where(self.pos if pos is None else pos)
        return ParseError(message, line, column, self.source)

    def describe(self):
        """The upcoming token, quoted for an error message."""
        if self.pos >= len(self.text):
            return "end of input"
        m = _NAME.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
        token = m.group() if m else self.text[self.pos]
        return repr(token)

    # -- lexing helpers ------------------------------------------------------------------

    def skip(self):
        m = _SPACE.match(self.text, self.pos)
        if m:
            self.pos = m.end()

    def peek(self):
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def accept(self, char):
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char, context):
        if not self.accept(char):
            raise self.error(f"expected '{char}' {context}, found {self.describe()}")

    def name(self, what):
        self.skip()
        m = _NAME.match(self.text, self.pos)
        if not m:
            raise self.error(f"expected {what}, found {self.describe()}")
        self.pos = m.end()
        return m.group()

    # -- grammar -------------------------------------------------------------------------

    def parse(self):
        msg = self.message(None, 0)
        if self.pos < len(self.text):
            raise self.error(f"expected a field name, found {self.describe()}")
        return msg

    def message(self, close, depth):
        start = self.pos
        if depth > MAX_DEPTH:
            raise self.error(f"messages nested deeper than {MAX_DEPTH} levels")
        line, column = self.where(max(start - 1, 0)) if close else (1, 1)
        msg = Message([], line, column)
        while True:
            char = self.peek()
            if close and char == close:
                self.pos += 1
                return msg
            if not char:
                if close:
                    raise self.error(f"expected '{close}' to close the message opened at "
                                     f"line {line}, column {column}, found end of input")
                return msg
            self.field(msg, depth)
            # A separator is optional, and only one is allowed per field.
            if not self.accept(","):
                self.accept(";")

    def field(self, msg, depth):
        self.skip()
        if self.peek() == "[":
            raise self.error("extension and Any fields ('[...]') are not supported")
        pos = self.pos
        name = self.name("a field name")
        line, column = self.where(pos)
        colon = self.accept(":")
        char = self.peek()
        if char in _CLOSE:
            values = [self.value(depth)]
        elif char == "[":
            values = self.list(depth, messages_only=not colon)
        elif colon:
            values = [self.value(depth)]
        else:
            raise self.error(f"expected ':' or '{{' after field name '{name}', "
                             f"found {self.describe()}")
        msg.fields.extend(Field(name, v, line, column) for v in values)

    def list(self, depth, messages_only):
        self.expect("[", "to open a list")
        values = []
        if self.accept("]"):
            return values
        while True:
            if messages_only and self.peek() not in _CLOSE:
                raise self.error(f"expected '{{' (a list without ':' holds messages), "
                                 f"found {self.describe()}")
            values.append(self.value(depth))
            if self.accept("]"):
                return values
            self.expect(",", "or ']' in a list")

    def value(self, depth):
        char = self.peek()
        if char in _CLOSE:
            self.pos += 1
            return self.message(_CLOSE[char], depth + 1)
        if char in ("'", '"'):
            return self.string()
        if char == "-":
            self.pos += 1
            self.skip()
            start = self.pos
            value = self.scalar_word(negative=True)
            if isinstance(value, (bool, Identifier)):
                raise self.error(f"'-' must be followed by a number, found '{value}'", start)
            return -value
        return self.scalar_word(negative=False)

    def scalar_word(self, negative):
        start = self.pos
        m = _NUMBER.match(self.text, start)
        if m:
            self.pos = m.end()
            if _NAME.match(self.text, self.pos) or self.text[self.pos:self.pos + 1] == ".":
                raise self.error(f"malformed number starting {m.group()!r}", start)
            return _number(m.group(), lambda msg: self.error(msg, start))
        m = _NAME.match(self.text, start)
        if not m:
            raise self.error(f"expected a value, found {self.describe()}")
        self.pos = m.end()
        word = m.group()
        if word in _BOOLS and not negative:
            return _BOOLS[word]
        if word.lower() in _FLOAT_WORDS:
            return _FLOAT_WORDS[word.lower()]
        return Identifier(word)

    def string(self):
        # Adjacent literals concatenate ("a" 'b' == "ab"), as in protobuf and C.
        out, start = bytearray(), self.pos
        while self.peek() in ("'", '"'):
            self._string_literal(out)
        try:
            return out.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.error(f"string is not valid UTF-8 ({e.reason})", start) from None

    def _string_literal(self, out):
        # Built as bytes: protobuf's \x and octal escapes name bytes, not code points.
        text, quote, start = self.text, self.text[self.pos], self.pos
        i = self.pos + 1
        while True:
            if i >= len(text) or text[i] == "\n":
                raise self.error("unterminated string literal", start)
            ch = text[i]
            if ch == quote:
                self.pos = i + 1
                return
            if ch != "\\":
                j = i + 1
                while j < len(text) and text[j] not in (quote, "\\", "\n"):
                    j += 1
                out += text[i:j].encode("utf-8")
                i = j
                continue
            i = self._escape(out, i)

    def _escape(self, out, i):
        text = self.text
        esc = text[i + 1:i + 2]
        if esc in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[esc].encode()
            return i + 2
        if esc in "01234567" and esc:
            m = _OCTAL.match(text, i + 1)
            code = int(m.group(), 8)
            if code > 0xFF:
                raise self.error("octal escape above \\377", i)
            out.append(code)
            return m.end()
        if esc in ("x", "X"):
            m = _HEX2.match(text, i + 2)
            if not m:
                raise self.error("\\x escape needs hex digits", i)
            out.append(int(m.group(), 16))
            return m.end()
        if esc in ("u", "U"):
            width = 4 if esc == "u" else 8
            digits = text[i + 2:i + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self.error(f"\\{esc} escape needs {width} hex digits", i)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise self.error(f"\\{esc}{digits} is not a Unicode scalar value", i)
            out += chr(code).encode("utf-8")
            return i + 2 + width
        raise self.error(f"invalid escape sequence '\\{esc}'", i)


def _number(token, error):
    """An int for integer tokens (hex and octal as protobuf reads them), else a float."""
    lower = token.lower()
    if lower.startswith("0x"):
        return int(lower, 16)
    if any(c in lower for c in ".ef"):
        return float(lower.rstrip("f"))
    if len(token) > 1 and token[0] == "0":
        if any(c in "89" for c in token):
            raise error(f"invalid octal number {token!r}")
        return int(token, 8)
    return int(token)
