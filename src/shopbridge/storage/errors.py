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
