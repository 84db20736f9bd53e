"""librsync's delta format ("rdiff"), as SWUpdate's `rdiff_image` handler applies it.

A delta is the magic `rs\\x026` followed by commands: LITERAL (bytes to write) and COPY
(a range of the base image to write), then END. librsync itself finds COPYs by matching
whole blocks of a signature; a vendor holds both images, so `make_delta` looks for matches
at any offset and of any length instead, and prefers to go on where the last COPY left off
(compiled code changes a few bytes of an address here and there: after those, the base
continues where it was). The patch is the same format either way; librsync applies it.

`apply_delta` is the device's side (fleetsim, and the server checking a delta at intake),
strict: a command past the base, a truncated stream or an output over `max_size` raise
DeltaError with the reason.
"""

import struct

from .errors import Words

MAGIC = b"rs\x026"  # RS_DELTA_MAGIC 0x72730236, big-endian
_OP_END = 0x00
_OP_LITERAL_IMMEDIATE_MAX = 0x40  # 0x01..0x40: the length is the opcode itself
_OP_LITERAL_N = 0x41  # 0x41..0x44: a length of 1, 2, 4 or 8 bytes follows
_OP_COPY = 0x45  # 0x45..0x54: offset then length, each 1, 2, 4 or 8 bytes
_INT_SIZES = (1, 2, 4, 8)
_INT_FORMATS = {1: ">B", 2: ">H", 4: ">I", 8: ">Q"}

_SEED = 8  # bytes looked up in the index of the base
_MIN_COPY = 8  # shorter matches cost more as COPY commands than as literal bytes (measured)
_GOOD_ENOUGH = 64  # a match this long on the diagonal is taken without a lookup


class DeltaError(ValueError):
    """The bytes are not a delta this base can be patched with; `words` the reason to say again
    in an operator's language (errors.py)."""

    def __init__(self, template: str, **params):
        self.words = Words(template, **params)
        super().__init__(str(self.words))


def make_delta(base: bytes, new: bytes) -> bytes:
    """A delta that turns `base` into `new`."""
    out = bytearray(MAGIC)
    index = _index(base)
    size = len(new)
    position = 0  # next byte of `new` to describe
    literal_from = 0
    diagonal = 0  # base offset minus new offset of the last COPY
    last_seed = size - _SEED
    while position <= last_seed:
        best_from, best_length = -1, 0
        candidate = position + diagonal
        if 0 <= candidate <= len(base) - _SEED:
            best_length = _common_length(base, candidate, new, position)
            best_from = candidate
        if best_length < _GOOD_ENOUGH:
            found = index.get(new[position : position + _SEED])
            if found is not None and found != candidate:
                length = _common_length(base, found, new, position)
                if length > best_length:
                    best_from, best_length = found, length
        if best_length < _MIN_COPY:
            position += 1
            continue
        # The match may also begin inside the bytes not yet described: take them back.
        while (
            position > literal_from
            and best_from > 0
            and base[best_from - 1] == new[position - 1]
        ):
            position -= 1
            best_from -= 1
            best_length += 1
        _literal(out, new[literal_from:position])
        _copy(out, best_from, best_length)
        diagonal = best_from - position
        position += best_length
        literal_from = position
    _literal(out, new[literal_from:])
    out.append(_OP_END)
    return bytes(out)


def apply_delta(base: bytes, delta: bytes, *, max_size: int) -> bytes:
    """Patch `base` with `delta`; at most `max_size` bytes may come out."""
    if not delta.startswith(MAGIC):
        raise DeltaError("not an rdiff delta (its first bytes are not librsync's delta magic)")
    out = bytearray()
    view = memoryview(delta)
    at = len(MAGIC)
    while True:
        if at >= len(delta):
            raise DeltaError("the delta is truncated (it ends without its END command)")
        op = delta[at]
        at += 1
        if op == _OP_END:
            break
        if op <= _OP_LITERAL_IMMEDIATE_MAX:
            length = op
        elif op < _OP_COPY:
            length, at = _read_int(delta, at, _INT_SIZES[op - _OP_LITERAL_N])
        else:
            if op > _OP_COPY + 15:
                raise DeltaError("the delta holds an unknown command {command} at byte {at}", command=f"0x{op:02x}",
                                 at=at - 1)
            start, at = _read_int(delta, at, _INT_SIZES[(op - _OP_COPY) // 4])
            length, at = _read_int(delta, at, _INT_SIZES[(op - _OP_COPY) % 4])
            if start + length > len(base):
                raise DeltaError(
                    "the delta copies bytes {start}-{end} of a base of {size} bytes: it was made from another base",
                    start=start, end=start + length, size=len(base),
                )
            if len(out) + length > max_size:
                raise DeltaError("the patched image would exceed {limit} bytes", limit=max_size)
            out += base[start : start + length]
            continue
        if at + length > len(delta):
            raise DeltaError("the delta is truncated (a literal runs past its end)")
        if len(out) + length > max_size:
            raise DeltaError("the patched image would exceed {limit} bytes", limit=max_size)
        out += view[at : at + length]
        at += length
    if at != len(delta):
        raise DeltaError("the delta has {count} bytes after its END command", count=len(delta) - at)
    return bytes(out)


_INDEX_MAX = 4 * 1024 * 1024  # seeds indexed at most (a dict entry each: ~100 bytes)


def _index(base: bytes) -> dict[bytes, int]:
    """Every seed of the base to its first offset (later duplicates are mostly padding).
    A base larger than _INDEX_MAX is indexed every few bytes: a match that long still holds
    an indexed seed, and the backward extension finds where it starts."""
    index: dict[bytes, int] = {}
    setdefault = index.setdefault
    step = max(1, -(-len(base) // _INDEX_MAX))
    for offset in range(0, len(base) - _SEED + 1, step):
        setdefault(base[offset : offset + _SEED], offset)
    return index


def _common_length(base: bytes, base_from: int, new: bytes, new_from: int) -> int:
    """How many bytes from these offsets are equal (compared in strides, then bytewise)."""
    length = 0
    limit = min(len(base) - base_from, len(new) - new_from)
    for stride in (1024, 64, 8, 1):
        while (
            length + stride <= limit
            and base[base_from + length : base_from + length + stride]
            == new[new_from + length : new_from + length + stride]
        ):
            length += stride
    return length


def _int_size(value: int) -> int:
    for size in _INT_SIZES:
        if value < 1 << (8 * size):
            return size
    raise DeltaError("{value} does not fit a delta command", value=value)


def _literal(out: bytearray, data: bytes) -> None:
    if not data:
        return
    if len(data) <= _OP_LITERAL_IMMEDIATE_MAX:
        out.append(len(data))
    else:
        size = _int_size(len(data))
        out.append(_OP_LITERAL_N + _INT_SIZES.index(size))
        out += struct.pack(_INT_FORMATS[size], len(data))
    out += data


def _copy(out: bytearray, start: int, length: int) -> None:
    start_size, length_size = _int_size(start), _int_size(length)
    out.append(_OP_COPY + 4 * _INT_SIZES.index(start_size) + _INT_SIZES.index(length_size))
    out += struct.pack(_INT_FORMATS[start_size], start)
    out += struct.pack(_INT_FORMATS[length_size], length)


def _read_int(data: bytes, at: int, size: int) -> tuple[int, int]:
    if at + size > len(data):
        raise DeltaError("the delta is truncated (inside a command)")
    return int.from_bytes(data[at : at + size], "big"), at + size
