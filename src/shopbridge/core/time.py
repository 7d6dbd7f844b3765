"""Time helpers: every datetime in the model is timezone-aware and stored in UTC.

Chinese platforms send wall-clock strings such as `2026-11-11 00:00:05` that are implicitly
GMT+8; global platforms send ISO-8601 with offsets or epoch numbers. Mixing naive and aware
datetimes either raises deep inside a comparison or, worse, silently shifts an order by eight
hours and breaks incremental sync windows. So platform local time is converted here, with the
zone named explicitly, and the model only ever holds UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "from_epoch_millis",
    "from_epoch_seconds",
    "parse_platform_local",
    "to_utc",
    "utcnow",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (never `datetime.utcnow()`, which is naive)."""
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is an error, never a guess."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: the timezone must be explicit")
    try:
        return dt.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("datetime out of range once converted to UTC") from exc


def parse_platform_local(s: str, tz: str = "Asia/Shanghai") -> datetime:
    """Parse a platform timestamp and return it in UTC.

    A string without an offset (`2026-11-11 00:00:05`, the Taobao/JD/PDD form) is wall-clock
    time in `tz`; a string with an offset or `Z` keeps its own offset and `tz` is ignored.
    In zones with daylight saving an ambiguous wall-clock time resolves to the first
    occurrence (`fold=0`).
    """
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    text = s.strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 / 'YYYY-MM-DD HH:MM:SS' timestamp: {s!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return to_utc(parsed)


def _epoch_number(value: int | str | Decimal, what: str) -> Decimal:
    # float is refused for the same reason as in Money: 1700000000.123 is not what was sent.
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise TypeError(f"{what} must be an int, a numeric string or a Decimal")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation as exc:
        raise ValueError(f"{what} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"{what} must be finite")
    return number


def _from_epoch(number: Decimal, unit: timedelta, what: str) -> datetime:
    micros = (number * Decimal(unit // timedelta(microseconds=1))).to_integral_value()
    try:
        return _EPOCH + timedelta(microseconds=int(micros))
    except OverflowError as exc:
        raise ValueError(f"{what} out of range") from exc


def from_epoch_seconds(value: int | str | Decimal) -> datetime:
    """UTC datetime from Unix seconds (Shopee, Lazada, Doudian style), e.g. `1700000000`."""
    return _from_epoch(_epoch_number(value, "epoch seconds"), timedelta(seconds=1), "seconds")


def from_epoch_millis(value: int | str | Decimal) -> datetime:
    """UTC datetime from Unix milliseconds (Taobao TMC, JD style), e.g. `"1700000000000"`."""
    return _from_epoch(
        _epoch_number(value, "epoch milliseconds"), timedelta(milliseconds=1), "milliseconds"
    )
