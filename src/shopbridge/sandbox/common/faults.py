"""Fault injection: make the next N matching requests fail in a chosen way.

Rules are consumed in insertion order. A rule matches a request when its optional
``method`` equals the request method and its optional ``path_pattern`` (a regular
expression, searched, not anchored) matches the request path. Each match consumes one
unit of ``remaining``; a rule with ``remaining=None`` stays until removed.

The platform decides how each :class:`FaultKind` looks on the wire (status, body).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shopbridge.sandbox.common.clock import Clock, SystemClock


class FaultKind(StrEnum):
    """The kinds of request faults a sandbox can inject."""

    ERROR = "error"
    """Answer with a server error (5xx) instead of processing the request."""
    HANG = "hang"
    """Sleep ``seconds`` before processing (or, with ``status``, before failing)."""
    RATE_LIMIT = "rate_limit"
    """Answer as if the platform's rate limit was exceeded."""
    AUTH_EXPIRED = "auth_expired"
    """Answer as if the access token had expired or been revoked."""


@dataclass
class FaultRule:
    """One fault-injection rule."""

    id: str
    kind: FaultKind
    remaining: int | None
    path_pattern: str | None
    method: str | None
    status: int | None
    seconds: float
    created_at: datetime
    hits: int = 0
    detail: str | None = None
    """Platform-specific variant of the fault (e.g. an error sub-code); free text."""
    skip: int = 0
    """Matching requests to let through before the fault starts (fail the 2nd page, say)."""
    _regex: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        """Return whether this rule applies to a request."""
        if self.method is not None and self.method != method.upper():
            return False
        return self._regex is None or self._regex.search(path) is not None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "remaining": self.remaining,
            "path_pattern": self.path_pattern,
            "method": self.method,
            "status": self.status,
            "seconds": self.seconds,
            "hits": self.hits,
            "detail": self.detail,
            "skip": self.skip,
            "created_at": self.created_at.isoformat(),
        }


class FaultInjector:
    """A thread-safe, ordered set of :class:`FaultRule`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def add(
        self,
        kind: FaultKind,
        *,
        count: int | None = 1,
        path_pattern: str | None = None,
        method: str | None = None,
        status: int | None = None,
        seconds: float = 0.0,
        detail: str | None = None,
        skip: int = 0,
    ) -> FaultRule:
        """Add a rule; raise ``ValueError`` for a bad pattern or count."""
        if count is not None and count < 1:
            raise ValueError("count must be at least 1 (or null for 'until removed')")
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        if skip < 0:
            raise ValueError("skip must not be negative")
        try:
            regex = re.compile(path_pattern) if path_pattern else None
        except re.error as exc:
            raise ValueError(f"invalid path_pattern: {exc}") from exc
        rule = FaultRule(
            id=f"flt_{next(self._ids)}",
            kind=kind,
            remaining=count,
            path_pattern=path_pattern,
            method=method.upper() if method else None,
            status=status,
            seconds=seconds,
            created_at=self._clock.now(),
            detail=detail,
            skip=skip,
            _regex=regex,
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """Consume and return the first rule matching the request, if any."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule
        return None

    def rules(self) -> list[FaultRule]:
        """Return the active rules."""
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: str) -> bool:
        """Remove one rule; return whether it existed."""
        with self._lock:
            for rule in self._rules:
                if rule.id == rule_id:
                    self._rules.remove(rule)
                    return True
        return False

    def clear(self) -> int:
        """Remove every rule; return how many there were."""
        with self._lock:
            count = len(self._rules)
            self._rules.clear()
        return count
