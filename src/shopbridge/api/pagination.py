"""Opaque cursors for keyset pagination.

A cursor records the last id seen and a fingerprint of the filters it was issued for, so a
cursor replayed with different filters is refused instead of returning a confusing page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from shopbridge.api.problems import FieldError, ProblemError
from shopbridge.core.time import to_utc


def _fingerprint(filters: dict[str, Any]) -> str:
    blob = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def encode_cursor(last_id: str, filters: dict[str, Any]) -> str:
    blob = json.dumps({"k": last_id, "f": _fingerprint(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(blob.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, filters: dict[str, Any]) -> str | None:
    if cursor is None:
        return None

    def invalid(detail: str) -> ProblemError:
        return ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            detail,
            errors=[FieldError(detail=detail, parameter="cursor", code="invalid_cursor")],
        )

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise invalid("The cursor is not one this API issued.") from exc
    if not isinstance(data, dict) or not isinstance(data.get("k"), str):
        raise invalid("The cursor is not one this API issued.")
    if data.get("f") != _fingerprint(filters):
        raise invalid("The cursor was issued for other filters; repeat the same filters.")
    key: str = data["k"]
    return key


class _HasId(Protocol):
    id: str


RowT = TypeVar("RowT", bound=_HasId)
OutT = TypeVar("OutT")


def page_of(
    rows: Sequence[RowT], limit: int, filters: dict[str, Any], render: Callable[[RowT], OutT]
) -> tuple[list[OutT], str | None, bool]:
    """Turn `limit + 1` fetched rows into (items, next_cursor, has_more)."""
    has_more = len(rows) > limit
    shown = rows[:limit]
    cursor = encode_cursor(shown[-1].id, filters) if has_more and shown else None
    return [render(r) for r in shown], cursor, has_more


def utc_filter(value: datetime | None, parameter: str) -> datetime | None:
    """A time filter from the query string in UTC, or a 422 naming the parameter when the
    offset pushes it out of the representable range (year 1 or 9999)."""
    if value is None:
        return None
    try:
        return to_utc(value)
    except (OverflowError, ValueError) as exc:
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"{parameter} is out of range.",
            errors=[FieldError(detail="out of range", parameter=parameter, code="range")],
        ) from exc
