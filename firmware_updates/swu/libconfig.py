"""A small, strict reader and writer for the libconfig syntax of sw-description.

Only what libconfig 1.5 (the version Debian's swupdate links) accepts: groups `{}` become
dicts, lists `()` and arrays `[]` become Python lists, scalars become str/int/float/bool.
No `@include`, no eval; nesting depth is bounded so hostile input cannot exhaust the stack.
"""

import re

from .errors import Words

MAX_DEPTH = 32

_SPACE = re.compile(r"(?:[ \t\r\n\f]+|#[^\n]*|//[^\n]*|/\*.*?\*/)+", re.S)
_NAME = re.compile(r"[A-Za-z*][-A-Za-z0-9_*]*")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)"
)
_HEX = re.compile(r"0[xX]([0-9A-Fa-f]+)L{0,2}(?![A-Za-z0-9_.])")
_INT = re.compile(r"[-+]?[0-9]+L{0,2}(?![A-Za-z0-9_.])")
_BOOL = re.compile(r"(?i:true|false)(?![-A-Za-z0-9_*])")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t", "f": "\f"}


class ParseError(ValueError):
    """The text is not libconfig; `line` is 1-based, `words` what is wrong there (errors.py)."""

    def __init__(self, line: int, words: Words):
        super().__init__(f"line {line}: {words}")
        self.line = line
        self.words = words
        self.message = str(words)


def loads(text: str) -> dict:
    """Parse a libconfig document into a dict of its top-level settings."""
    return _Parser(text).document()


def dumps(settings: dict) -> str:
    """Render a dict as libconfig; lists of scalars become arrays, other lists become lists."""
    return "".join(_setting(name, value, 0) for name, value in settings.items())


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def fail(self, template: str, **params):
        raise ParseError(self.text.count("\n", 0, self.pos) + 1, Words(template, **params))

    def peek(self) -> str:
        """Skip blanks and comments; return the next character ('' at the end)."""
        match = _SPACE.match(self.text, self.pos)
        if match:
            self.pos = match.end()
        if self.text.startswith("/*", self.pos):  # _SPACE stops only before an open comment
            self.fail("comment '/*' is never closed")
        return self.text[self.pos : self.pos + 1]

    def document(self) -> dict:
        return self.settings(closing="", depth=0)

    def settings(self, *, closing: str, depth: int) -> dict:
        result: dict = {}
        while True:
            char = self.peek()
            if char == closing:
                return result
            if char == "":
                self.fail("unexpected end of text, expected '{closing}'", closing=closing)
            if char == "@":
                self.fail("directives such as @include are not allowed")
            match = _NAME.match(self.text, self.pos)
            if not match:
                self.fail("expected a setting name, found {near}", near=self.near())
            name = match.group()
            if name in result:
                self.fail("setting '{name}' appears twice", name=name)
            self.pos = match.end()
            if self.peek() not in ("=", ":"):
                self.fail("expected '=' or ':' after '{name}', found {near}", name=name, near=self.near())
            self.pos += 1
            result[name] = self.value(depth)
            if self.peek() in (";", ","):
                self.pos += 1

    def value(self, depth: int):
        if depth >= MAX_DEPTH:
            self.fail("nested more than {depth} levels deep", depth=MAX_DEPTH)
        char = self.peek()
        if char == "{":
            self.pos += 1
            group = self.settings(closing="}", depth=depth + 1)
            self.pos += 1
            return group
        if char == "(":
            return self.sequence(")", lambda: self.value(depth + 1))
        if char == "[":
            items = self.sequence("]", self.scalar)
            if len({type(item) for item in items}) > 1:
                self.fail("an array [] must hold values of one type")
            return items
        return self.scalar()

    def sequence(self, closing: str, item) -> list:
        self.pos += 1
        items: list = []
        if self.peek() == closing:
            self.pos += 1
            return items
        while True:
            items.append(item())
            char = self.peek()
            if char == closing:
                self.pos += 1
                return items
            if char != ",":
                self.fail("expected ',' or '{closing}', found {near}", closing=closing, near=self.near())
            self.pos += 1
            if self.peek() == closing:
                # libconfig 1.5 refuses trailing commas, and so does the device.
                self.fail("trailing ',' before '{closing}'", closing=closing)

    def scalar(self):
        self.peek()
        text, pos = self.text, self.pos
        if text.startswith('"', pos):
            parts = []
            while text.startswith('"', self.pos):  # "a" "b" is one string, as in C
                parts.append(self.string())
                self.peek()
            return "".join(parts)
        for pattern, convert in (
            (_BOOL, lambda m: m.group().lower() == "true"),
            (_FLOAT, lambda m: float(m.group())),
            (_HEX, lambda m: int(m.group(1), 16)),
            (_INT, lambda m: int(m.group().rstrip("L"))),
        ):
            match = pattern.match(text, pos)
            if match:
                value = convert(match)
                if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**64:
                    self.fail("number {number} is too large", number=match.group())
                self.pos = match.end()
                return value
        self.fail("expected a value, found {near}", near=self.near())

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if not match:
            self.fail("string is never closed")
        out = []
        raw = match.group(1)
        i = 0
        while i < len(raw):
            char = raw[i]
            if char != "\\":
                out.append(char)
                i += 1
                continue
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
            elif nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", raw[i + 2 : i + 4]):
                out.append(chr(int(raw[i + 2 : i + 4], 16)))
                i += 4
            else:
                self.fail("unknown escape '{escape}' in string", escape=f"\\{nxt}")
        self.pos = match.end()
        return "".join(out)

    def near(self) -> str | Words:
        snippet = self.text[self.pos : self.pos + 12].split("\n")[0]
        return repr(snippet) if snippet else Words("the end of the text")


def _setting(name: str, value, indent: int) -> str:
    pad = "\t" * indent
    # `images: ( ... )` is how SWUpdate's documentation spells lists; libconfig accepts both.
    sep = ":" if isinstance(value, list) and not _is_array(value) else " ="
    return f"{pad}{name}{sep} {_value(value, indent)};\n"


def _value(value, indent: int) -> str:
    pad = "\t" * indent
    if isinstance(value, dict):
        body = "".join(_setting(k, v, indent + 1) for k, v in value.items())
        return "{\n" + body + pad + "}"
    if isinstance(value, list):
        if _is_array(value):
            return "[" + ", ".join(_value(v, indent) for v in value) + "]"
        inner = ",\n".join("\t" * (indent + 1) + _value(v, indent + 1) for v in value)
        return "(\n" + inner + "\n" + pad + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + _escape(value) + '"'
    raise TypeError(f"cannot write {type(value).__name__} as libconfig")


def _is_array(value: list) -> bool:
    return all(isinstance(v, str | int | float | bool) for v in value)


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char in "\n\r\t\f":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)
