"""JSON on the hot paths (push bodies, stored documents, webhook bodies) through orjson, with
the standard library's answer wherever the two would differ in meaning.

Why: at peak every order is parsed once, written as two or three JSON columns and encoded
again for each webhook; the standard library spent about a tenth of the server's CPU there,
orjson does the same work 4-10x faster.

Where they differ, and what this module does about it:
- orjson reads an integer literal beyond 64 bits as a float, silently losing digits (a
  30-digit id would change). Input with a run of 19 or more digits is therefore read by the
  standard library, which keeps every digit.
- orjson refuses `NaN`/`Infinity` literals and lone surrogate escapes, which the standard
  library accepts: on any refusal the standard library reads the input, so what is accepted
  (and how it is reported when it is not) is unchanged.
- orjson refuses to write integers beyond 64 bits, lone surrogates and non-string keys,
  which the standard library writes: such values are written by the standard library.

Digests that must stay byte-identical across versions (the vault's keyed content hash) use
`canonical`, which gives exactly the standard library's bytes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGIT_MAP = bytes(1 if 0x30 <= byte <= 0x39 else 0 for byte in range(256))
_LONG_RUN = b"\x01" * 19
_INT64_MAX = 2**63 - 1
_STDLIB_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _has_long_number(raw: bytes) -> bool:
    """A run of digits anywhere (in a string too: the fallback is then merely slower) that
    could be an integer beyond 64 bits: 20 digits or more, or 19 above 2**63 - 1. Found by
    two C passes (translate, find); a regex took longer than parsing the JSON."""
    digits = raw.translate(_DIGIT_MAP)
    start = digits.find(_LONG_RUN)
    while start != -1:
        end = start + len(_LONG_RUN)
        while end < len(digits) and digits[end] == 1:
            end += 1
        if end - start > 19 or int(raw[start:end]) > _INT64_MAX:
            return True
        start = digits.find(_LONG_RUN, end)
    return False


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """`json.loads`, faster; raises `json.JSONDecodeError` (a `ValueError`) like it."""
    if isinstance(data, str):
        plain = not _has_long_number(data.encode("utf-8", "surrogatepass"))
    else:
        data = bytes(data)
        plain = not _has_long_number(data)
    if plain:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library decides (and words the error)
    return json.loads(data)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (`separators=(",", ":")`, `ensure_ascii=False`)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # >64-bit int, lone surrogate, non-str key, or not JSON at all
        return _STDLIB_COMPACT.encode(value).encode("utf-8", "surrogatepass")


def dumps_str(value: Any) -> str:
    """`dumps` as text (what SQLAlchemy's JSON columns want)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _STDLIB_COMPACT.encode(value)


_STDLIB_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _may_spell_a_small_float(blob: bytes) -> bool:
    """`0.0000` or `e-` and one digit, where orjson and the standard library may differ.
    Searched with `bytes.find`, not a regex: one was slower than the encoding itself."""
    if b"0.0000" in blob:
        return True
    at = blob.find(b"e-")
    while at != -1:
        digit = at + 2
        if (
            digit < len(blob)
            and 0x30 <= blob[digit] <= 0x39
            and (digit + 1 == len(blob) or not 0x30 <= blob[digit + 1] <= 0x39)
        ):
            return True
        at = blob.find(b"e-", digit)
    return False


def canonical(value: Any) -> bytes:
    """Byte for byte what `json.dumps(value, sort_keys=True, ensure_ascii=False,
    separators=(",", ":")).encode()` gives (digests over it must not change between
    versions), 5-10x faster.

    The two spell only floats below 1e-4 differently (`1e-05` against `0.00001` or `1e-5`);
    output where such a spelling may occur (the marker in a string also counts) is redone by
    the standard library, as is anything orjson refuses."""
    try:
        blob = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        if not _may_spell_a_small_float(blob):
            return blob
    except TypeError:
        pass
    return _STDLIB_CANONICAL.encode(value).encode("utf-8", "surrogatepass")


def copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        blob = orjson.dumps(value)
    except TypeError:
        return json.loads(_STDLIB_COMPACT.encode(value))
    return loads(blob)
