"""Input rules shared by request bodies: text that every database can store, bounded JSON.

PostgreSQL refuses NUL characters and unpaired surrogates cannot be encoded as UTF-8, so both
are rejected at the edge with a 422 rather than failing later inside a transaction.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16


def check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no unpaired surrogates)") from exc
    return value


def _walk(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key))
            _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _walk(item, depth + 1)
    elif isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise ValueError("numbers must be finite")


def check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    _walk(value, 0)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_JSON_BYTES:
        raise ValueError(f"object larger than {MAX_JSON_BYTES} bytes")
    return value


Text = Annotated[str, AfterValidator(check_text)]
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_text)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_object)]
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


_NUMBER = re.compile(r"^\s*[-+]?\d+(\.\d*)?\s*$")


def _iso_datetime_only(value: object) -> object:
    # pydantic reads a bare number as a Unix timestamp; the API documents ISO 8601 only.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("use an ISO 8601 date-time with an offset, e.g. 2026-11-11T00:00:00+08:00")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
