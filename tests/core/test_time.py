from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from shopbridge.core import UtcDatetime, parse_platform_local, to_utc, utcnow
from shopbridge.core.time import from_epoch_millis, from_epoch_seconds


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=5)


def test_to_utc_converts_and_rejects_naive() -> None:
    shanghai = datetime(2026, 11, 11, 0, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert to_utc(shanghai) == datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)
    assert to_utc(shanghai).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        to_utc(datetime(2026, 11, 11))
    with pytest.raises(ValueError, match="out of range"):
        to_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))))


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-11-11 00:00:05", "Asia/Shanghai", datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)),
        ("2026-01-01 07:59:59", "Asia/Shanghai", datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2026-11-11T00:00:05", "Asia/Shanghai", datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)),
        (
            "2026-11-11 00:00:05.250",
            "Asia/Shanghai",
            datetime(2026, 11, 10, 16, 0, 5, 250000, tzinfo=UTC),
        ),
        ("2026-11-11", "Asia/Shanghai", datetime(2026, 11, 10, 16, 0, tzinfo=UTC)),
        ("2026-11-11 00:00:05", "Asia/Tokyo", datetime(2026, 11, 10, 15, 0, 5, tzinfo=UTC)),
        ("2026-07-01 12:00:00", "America/New_York", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
        ("2026-01-01 12:00:00", "America/New_York", datetime(2026, 1, 1, 17, 0, tzinfo=UTC)),
        # An explicit offset wins over the default zone.
        ("2026-11-11T00:00:05Z", "Asia/Shanghai", datetime(2026, 11, 11, 0, 0, 5, tzinfo=UTC)),
        (
            "2005-07-31T15:57:11-04:00",
            "Asia/Shanghai",
            datetime(2005, 7, 31, 19, 57, 11, tzinfo=UTC),
        ),
    ],
)
def test_parse_platform_local(text: str, tz: str, expected: datetime) -> None:
    parsed = parse_platform_local(text, tz)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_platform_local_defaults_to_shanghai() -> None:
    assert parse_platform_local("2026-11-11 00:00:05").isoformat() == "2026-11-10T16:00:05+00:00"


@pytest.mark.parametrize("text", ["", "   ", "0000-00-00 00:00:00", "11/11/2026", "yesterday"])
def test_parse_platform_local_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_platform_local(text)


def test_parse_platform_local_rejects_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_platform_local("2026-11-11 00:00:05", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_platform_local("2026-11-11 00:00:05", "../etc/passwd")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (Decimal("1700000000.5"), datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_from_epoch_seconds(value: int | str | Decimal, expected: datetime) -> None:
    assert from_epoch_seconds(value) == expected


def test_from_epoch_millis() -> None:
    expected = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert from_epoch_millis(1700000000123) == expected
    assert from_epoch_millis("1700000000123") == expected


@pytest.mark.parametrize("value", [1.5, True, None, "abc", "NaN", "1e400", 10**20])
def test_from_epoch_rejects_floats_and_garbage(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        from_epoch_seconds(value)  # type: ignore[arg-type]


class Stamp(BaseModel):
    at: UtcDatetime


def test_model_datetimes_reject_naive_values() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Stamp(at=datetime(2026, 11, 11, 0, 0, 5))
    with pytest.raises(ValidationError, match="timezone"):
        Stamp.model_validate_json('{"at": "2026-11-11T00:00:05"}')
    with pytest.raises(ValidationError, match="timezone"):
        Stamp.model_validate({"at": "2026-11-11 00:00:05"})


def test_model_datetimes_are_normalised_to_utc() -> None:
    stamp = Stamp.model_validate_json('{"at": "2026-11-11T00:00:05+08:00"}')
    assert stamp.at == datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)
    assert stamp.at.utcoffset() == timedelta(0)
    assert stamp.model_dump_json() == '{"at":"2026-11-10T16:00:05Z"}'
