"""Storage-level outcomes the API turns into problem responses."""

from __future__ import annotations


class StorageError(Exception):
    """Base class; carries a message safe to show a client (never buyer data)."""


class NotFound(StorageError):
    """The row does not exist *for this tenant*: other tenants' rows are indistinguishable
    from missing ones, so ids cannot be probed across tenants."""


class Conflict(StorageError):
    """A uniqueness rule would be broken (e.g. the shop is already connected)."""


class StaleWrite(StorageError):
    """The incoming platform state is older than what is stored; it was not applied."""


_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock


def is_transient(exc: BaseException) -> bool:
    """A database error that a retry of the whole transaction resolves: PostgreSQL aborted
    it to break a deadlock or a serialization conflict, or SQLite's lock wait ran out."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    cause = getattr(orig, "__cause__", None)
    sqlstate = sqlstate or getattr(cause, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    text = str(orig).lower()
    return "deadlock detected" in text or "database is locked" in text
