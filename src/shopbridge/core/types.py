"""Constrained scalar and JSON types shared by every unified model.

Every string that enters the model ends up in PostgreSQL `jsonb`/`text`, in webhook bodies and
in logs. PostgreSQL rejects NUL (`\\u0000`) in both, and a lone UTF-16 surrogate cannot be
encoded as UTF-8 at all, so either would let a valid-looking order fail much later, at write
time, far from the connector that produced it. These types reject them at the model boundary
instead, where the error still names the field.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final

import orjson
from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from pydantic import (
    AfterValidator,
    AwareDatetime,
    PlainValidator,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from shopbridge.core.enums import PLATFORM_PATTERN
from shopbridge.core.time import to_utc

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_QUANTITY",
    "CarrierCode",
    "CountryCode",
    "CurrencyCode",
    "HttpUrl",
    "Identifier",
    "JsonObject",
    "NativePayload",
    "NonNegativeQuantity",
    "PlatformId",
    "Quantity",
    "SafeStr",
    "ShortText",
    "UtcDatetime",
    "check_json_value",
    "check_safe_str",
]

_UNSAFE_CHARS: Final = re.compile("[\x00\ud800-\udfff]")

MAX_QUANTITY: Final = 10**9
"""Upper bound for any count of units: far above any real order, far below int64 overflow."""

MAX_JSON_DEPTH: Final = 64
"""Nesting limit for `extensions`/`raw`; real platform payloads stay under ten levels."""


def check_safe_str(value: str) -> str:
    """Reject NUL and lone surrogates; the message never repeats the value (it may be PII)."""
    match = _UNSAFE_CHARS.search(value)
    if match is not None:
        what = "a NUL character" if match.group() == "\x00" else "a lone UTF-16 surrogate"
        raise ValueError(f"string contains {what} at index {match.start()}")
    return value


SafeStr = Annotated[str, AfterValidator(check_safe_str)]
"""Any text the model stores: no NUL, no lone surrogate, otherwise untouched (no stripping,
so what the platform sent is what is stored)."""

Identifier = Annotated[SafeStr, MinLen(1), MaxLen(255)]
"""An id or code (native ids, SKU codes, tracking numbers). Never an int: 64-bit platform ids
lose precision in JavaScript and in JSON parsers that read numbers as doubles, so connectors
must pass the platform's string form (Taobao `tid_str`, `str()` of a Shopify id)."""

ShortText = Annotated[SafeStr, MaxLen(1024)]
"""Titles, labels and other short free text."""

HttpUrl = Annotated[SafeStr, MaxLen(2048), StringConstraints(pattern=r"^https?://\S+$")]
"""An http(s) URL kept exactly as given (pydantic's URL types would normalise it)."""

PlatformId = Annotated[str, StringConstraints(pattern=PLATFORM_PATTERN)]
"""`taobao`, `shopify`, ... or a plugin's own identifier of the same shape."""

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 alphabetic code, uppercase (`CNY`, `USD`)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 code, uppercase (`CN`, `US`)."""

CarrierCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9_]{0,31}$")]
"""Unified carrier code from the carrier table (`SF`, `ZTO`, `DHL_EXPRESS`, `OTHER`)."""

Quantity = Annotated[int, Strict(), Gt(0), Le(MAX_QUANTITY)]
"""A positive count of units. Strict: `True`, `2.0` and `"2"` are mapping bugs, not counts."""

NonNegativeQuantity = Annotated[int, Strict(), Ge(0), Le(MAX_QUANTITY)]
"""A count of units that may be zero (stock on hand, listing quantity)."""


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""An aware datetime, normalised to UTC so stored ISO strings sort and compare as instants."""


def _check_json(value: object, path: str, depth: int) -> Any:
    """Validate and copy one JSON node; the copy keeps later caller mutations out of the model."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels at {path}")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        try:
            return check_safe_str(value)
        except ValueError as exc:
            raise ValueError(f"{exc} at {path}") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"NaN or infinite number at {path}")
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"object key of type {type(key).__name__} at {path}")
            try:
                check_safe_str(key)
            except ValueError as exc:
                raise ValueError(f"object key at {path}: {exc}") from None
            out[key] = _check_json(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list):
        return [_check_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ValueError(f"{type(value).__name__} is not a JSON value at {path}")


class _NotPlain(Exception):
    """`_copy_plain` met something it leaves to `_check_json` (an error, or a subclass)."""


_unsafe = _UNSAFE_CHARS.search


def _copy_plain(value: Any, depth: int) -> Any:
    """`_check_json` for the common case (exact `dict`/`list`/`str`/`int`/... types and
    nothing wrong) without building a path string for every node; raises `_NotPlain` on
    anything else, for `_check_json` to accept (a subclass) or to report with its path."""
    if depth > MAX_JSON_DEPTH:
        raise _NotPlain
    kind = type(value)
    if kind is str:
        if _unsafe(value):
            raise _NotPlain
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str or _unsafe(key):
                raise _NotPlain
            out[key] = _copy_plain(item, depth + 1)
        return out
    if kind is list:
        return [_copy_plain(item, depth + 1) for item in value]
    if value is None or kind is bool or kind is int:
        return value
    if kind is float and math.isfinite(value):
        return value
    raise _NotPlain


_CARRY_ON: Final = object()
_ONLY_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def _nesting(blob: bytes) -> int:
    """Deepest bracket nesting of a JSON text, counting brackets inside strings too (an
    overestimate only sends the value down the careful path)."""
    deepest = depth = 0
    for byte in blob.translate(None, _ONLY_BRACKETS):
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _copy_through_orjson(value: object) -> Any:
    """`_copy_plain` for a whole native payload in C (~4x faster): what orjson writes and
    reads back equal to `value`, with no NUL and no deep nesting, is plain, safe JSON.
    Anything else (`_CARRY_ON`) goes the careful way, which also words the error: orjson
    refuses lone surrogates, non-string keys and integers beyond 64 bits; it writes NaN as
    null, which the equality check catches."""
    try:
        blob = orjson.dumps(value)
    except TypeError:
        return _CARRY_ON
    if b"\\u0000" in blob or _nesting(blob) >= MAX_JSON_DEPTH:
        return _CARRY_ON
    copied = orjson.loads(blob)
    return copied if copied == value else _CARRY_ON


def check_json_value(value: object) -> Any:
    """Accept exactly what JSON can represent and PostgreSQL `jsonb` can store.

    Floats are allowed here (native payloads contain them, e.g. Shopify tax rates) because
    `raw` must stay untouched; money in the unified fields is never a float.
    """
    if type(value) is dict or type(value) is list:
        copied = _copy_through_orjson(value)
        if copied is not _CARRY_ON:
            return copied
    try:
        return _copy_plain(value, 0)
    except _NotPlain:
        return _check_json(value, "$", 0)


def _check_json_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    result: dict[str, Any] = check_json_value(value)
    return result


def _check_native_payload(value: object) -> dict[str, Any] | list[Any] | None:
    if value is not None and not isinstance(value, dict | list):
        raise ValueError("must be a JSON object, a JSON array or null")
    result: dict[str, Any] | list[Any] | None = check_json_value(value)
    return result


JsonObject = Annotated[
    dict[str, Any],
    PlainValidator(_check_json_object),
    WithJsonSchema({"type": "object"}),
]
"""A JSON object with safe strings, finite numbers and bounded depth (`extensions`, settings)."""

NativePayload = Annotated[
    dict[str, Any] | list[Any] | None,
    PlainValidator(_check_native_payload),
    WithJsonSchema({"anyOf": [{"type": "object"}, {"type": "array"}, {"type": "null"}]}),
]
"""The untouched native document (object or array) a unified object was mapped from."""
