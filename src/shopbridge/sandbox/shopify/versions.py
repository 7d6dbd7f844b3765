"""Shopify API version resolution.

Shopify releases a stable version every quarter (``YYYY-01/04/07/10``, at 17:00 UTC on
the first day of the quarter) and keeps each for at least 12 months. The next quarter's
version is reachable as the *release candidate*, and ``unstable`` always exists.
A request naming a version that is no longer served "falls forward" to the oldest
supported stable version; the ``X-Shopify-API-Version`` response header names the version
actually used.

The sandbox serves every quarterly version from ``oldest_api_version`` (2024-01 by
default) to the current quarter natively, plus the release candidate and ``unstable``.
Older quarterly versions fall forward. Strings that are not a Shopify version at all
(``2024-02``, ``latest``, far-future quarters) answer 404 - see docs/sandboxes.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

QUARTER_MONTHS = (1, 4, 7, 10)
UNSTABLE = "unstable"
_FORMAT = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class ApiVersion:
    """A quarterly stable version."""

    year: int
    month: int

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> ApiVersion:
        if self.month == 10:
            return ApiVersion(self.year + 1, 1)
        return ApiVersion(self.year, self.month + 3)

    def released_at(self) -> datetime:
        return datetime(self.year, self.month, 1, 17, 0, tzinfo=UTC)


def parse_version(value: str) -> ApiVersion | None:
    """Parse ``YYYY-MM`` with a quarterly month; None for anything else."""
    match = _FORMAT.match(value)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if month not in QUARTER_MONTHS or year < 2019:
        return None
    return ApiVersion(year, month)


def latest_stable(now: datetime) -> ApiVersion:
    """The newest stable version released at ``now``."""
    month = ((now.month - 1) // 3) * 3 + 1
    version = ApiVersion(now.year, month)
    if now < version.released_at():
        # Before 17:00 UTC on release day the previous quarter is still the latest.
        version = ApiVersion(now.year - 1, 10) if month == 1 else ApiVersion(now.year, month - 3)
    return version


def resolve_version(requested: str, now: datetime, oldest: str) -> str | None:
    """Return the version that serves ``requested``, or None when it does not exist."""
    if requested == UNSTABLE:
        return UNSTABLE
    version = parse_version(requested)
    oldest_version = parse_version(oldest)
    if version is None or oldest_version is None:
        return None
    candidate = latest_stable(now).next()
    if version > candidate:
        return None
    if version < oldest_version:
        return oldest_version.name
    return version.name


def served_versions(now: datetime, oldest: str) -> list[str]:
    """Every version served natively, oldest first (stable, release candidate, unstable)."""
    first = parse_version(oldest)
    if first is None:
        raise ValueError(f"not a quarterly version: {oldest}")
    candidate = latest_stable(now).next()
    names: list[str] = []
    version = first
    while version <= candidate:
        names.append(version.name)
        version = version.next()
    names.append(UNSTABLE)
    return names
