"""When to try a failed webhook again.

The schedule is a list of delays (configurable, `SHOPBRIDGE_WEBHOOK_RETRY_SCHEDULE`); each is
spread by ±20 % jitter so endpoints that failed together do not all retry in the same second,
and a receiver's `Retry-After` is honoured when it asks for longer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
MAX_RETRY_AFTER = timedelta(days=1)
JITTER = 0.2


class InvalidSchedule(ValueError):
    """The configured schedule cannot be parsed."""


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    delays: list[timedelta] = []
    for part in text.split(","):
        match = _DELAY.match(part)
        if not match:
            raise InvalidSchedule(
                f"bad delay {part.strip()!r} in retry schedule; use e.g. 5s,30s,2m,1h,1d"
            )
        delays.append(timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)]))
    if not delays:
        raise InvalidSchedule("the retry schedule is empty")
    return tuple(delays)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Seconds or an HTTP date (RFC 9110); anything unparsable is ignored, not trusted."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetrySchedule:
    delays: Sequence[timedelta]

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        return cls(parse_schedule(text))

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per delay."""
        return len(self.delays) + 1

    @property
    def total(self) -> timedelta:
        return sum(self.delays, timedelta(0))

    def next_delay(
        self,
        attempts_made: int,
        *,
        retry_after: timedelta | None = None,
        rng: random.Random | None = None,
    ) -> timedelta | None:
        """Delay before the next attempt after `attempts_made` failures, or None when the
        schedule is exhausted (the delivery becomes a dead letter)."""
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        base = self.delays[attempts_made - 1]
        factor = 1 + (rng or random).uniform(-JITTER, JITTER)
        delay = base * factor
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return delay
