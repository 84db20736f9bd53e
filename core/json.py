"""The one JSON reader for request bodies: the management API (core.api.JSONParser) and the
device protocol (firmware_updates.ddi.payloads.json_body).

Python's decoder recurses once per nesting level, so `[[[[…]]]]` 100,000 deep raised
RecursionError (a 500). Bodies are therefore checked for size and nesting depth before they
are decoded; the depth check does not recurse and costs nothing for a normal body (see
`json_too_deep`, also used for the JSON manifests of firmware archives by firmware_updates.swu,
which runs without Django). Plain Python: the callers pass the limits (settings JSON_MAX_DEPTH,
JSON_MAX_BYTES in core.parsers and the device protocol).

JSON's escapes can also spell text that is no text: `\u0000` (PostgreSQL refuses NUL in text
and in jsonb) and a lone surrogate such as `\ud800` (UTF-8 cannot encode it: SQLite's driver,
psycopg and every answer that shows the value failed). Stored once, a device's report made
its job unreadable. Both are refused here, for every string of the body, names included.
"""

import json
import re
from itertools import accumulate

__all__ = ["JSONBodyError", "JSONBodyTooLarge", "json_too_deep", "json_loads", "json_read", "text_refusal"]


class JSONBodyError(ValueError):
    """A body we do not decode: `reason` in plain words, `status` 400 (413 for size)."""

    status = 400

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class JSONBodyTooLarge(JSONBodyError):
    status = 413


# A JSON string, escapes included; an unterminated one runs to the end of the text (the
# decoder stops there too). Unrolled ("normal* (special normal*)*") so matching never
# backtracks: the whole scan is linear in the body's length.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_BLOCK = 4096


def json_too_deep(text: str, *, limit: int) -> bool:
    """Whether `text` nests arrays and objects more than `limit` levels deep.

    Brackets inside strings do not count. Without recursion and in C loops: strings and
    everything but brackets are cut out by two regular expressions, then a running sum.
    A body with no more opening brackets than `limit` (nearly every one) is not scanned.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = 0
    # Block by block, so a body that is too deep is refused at its first few kilobytes.
    for start in range(0, len(brackets), _BLOCK):
        depths = list(accumulate(map(_STEP.__getitem__, brackets[start:start + _BLOCK]), initial=depth))
        if max(depths) > limit:
            return True
        depth = depths[-1]
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")
# \u0000 or any surrogate's escape (a pair, an emoji, is walked too and passes).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def text_refusal(text: str) -> str | None:
    """Why `text` cannot be stored or sent as UTF-8 (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "a NUL character (\\u0000), which cannot be stored"
    if match := _SURROGATE.search(text):
        return f"an unpaired surrogate (\\u{ord(match.group()):04x}), which is not a character"
    return None


def _unstorable(value) -> str | None:
    """The first string of a decoded body that `text_refusal` refuses, as "where: why".

    Iterative (the depth was checked, but a list of 100,000 strings is flat).
    """
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if why := text_refusal(item):
                return f"the text at {_where(path)} holds {why}"
        elif isinstance(item, dict):
            for key, inner in reversed(item.items()):
                if why := text_refusal(key):
                    return f"a name in {'the body' if not path else 'the object at ' + _where(path)} holds {why}"
                stack.append((f"{path}.{key}" if path else key, inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", inner) for index, inner in reversed(list(enumerate(item))))
    return None


def _where(path: str) -> str:
    if not path:
        return "the body"
    return path if len(path) <= 80 else path[:77] + "..."


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def json_loads(body: bytes | str, *, max_depth: int, max_bytes: int):
    """Decode a request body; JSONBodyError (400, or JSONBodyTooLarge 413) with the reason.

    Bytes must be UTF-8 (RFC 8259 8.1). NaN and Infinity are refused: they are not JSON.
    """
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise JSONBodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
    try:
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        else:  # text (a test, a caller): a lone surrogate in it is no UTF-8 either
            body.encode("utf-8")
    except UnicodeError:
        raise JSONBodyError("The body is not valid JSON: it is not UTF-8 text.") from None
    if json_too_deep(body, limit=max_depth):
        raise JSONBodyError(f"The body's JSON is nested more than {max_depth} levels deep.")
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JSONBodyError(
            f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except ValueError as exc:  # NaN or Infinity (_reject_constant)
        raise JSONBodyError(f"The body is not valid JSON: {exc}.") from None
    # Only an escape spells a NUL or a lone surrogate (the raw text was checked above), so
    # nearly every body is not walked.
    if _SUSPECT_ESCAPE.search(body) and (why := _unstorable(value)):
        raise JSONBodyError(f"The body's JSON is refused: {why}.")
    return value


def json_read(stream, *, max_bytes: int) -> bytes:
    """Read a request body stream, refusing it (413) once it passes `max_bytes`."""
    chunks, size = [], 0
    while chunk := stream.read(min(65536, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise JSONBodyTooLarge(f"The request body is larger than {max_bytes} bytes.")
    return b"".join(chunks)
