"""Input rules for request bodies and parameters, built on the unified model's own checks.

PostgreSQL refuses NUL characters and unpaired surrogates cannot be encoded as UTF-8, so both
are rejected at the edge with a 422 rather than failing later inside a transaction.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

from shopbridge.core.types import SafeStr, check_json_value

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Settings-style objects: storable JSON (model rules), bounded in depth and size."""
    checked: dict[str, Any] = check_json_value(value)
    if _depth(checked) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if len(json.dumps(checked, ensure_ascii=False).encode()) > MAX_JSON_BYTES:
        raise ValueError(f"object larger than {MAX_JSON_BYTES} bytes")
    return checked


_NUMBER = re.compile(r"^\s*[-+]?\d+(\.\d*)?\s*$")


def _iso_datetime_only(value: object) -> object:
    # pydantic reads a bare number as a Unix timestamp; the API documents ISO 8601 only.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError("use an ISO 8601 date-time with an offset, e.g. 2026-11-11T00:00:00+08:00")
    return value


Text = SafeStr
Name = Annotated[SafeStr, Field(min_length=1, max_length=200)]
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_object)]
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
