"""The few failures every connector reports, whatever the platform said.

A connector maps its platform's error codes to these at one boundary (its transport), so the
sync engine, the API and the operator's dashboard handle every platform the same way. Each
carries the platform's own code and message (never buyer data) for the sync log.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class. `interface` names the platform call (`orders.json`,
    `taobao.trade.fullinfo.get`); `code`/`platform_message` are the platform's own words."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        platform: str | None = None,
        interface: str | None = None,
        code: str | None = None,
        platform_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.interface = interface
        self.code = code
        self.platform_message = platform_message

    def __str__(self) -> str:
        where = f"{self.platform or '?'} {self.interface or ''}".strip()
        code = f" [{self.code}]" if self.code else ""
        return f"{where}{code}: {self.message}"


class RateLimited(ConnectorError):
    """The platform asked us to slow down; `retry_after` seconds is how long to wait."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class AuthExpired(ConnectorError):
    """The shop's token is expired, revoked or wrong: the shop must be re-authorised.
    Retrying cannot help, so the sync engine pauses the shop with this reason."""


class NotFound(ConnectorError):
    """The platform says the object does not exist (or is not visible to this shop)."""


class Rejected(ConnectorError):
    """The platform understood the request and refused it (`reason` says why): a business
    rule such as an unsupported carrier, an order already shipped, a missing permission."""

    def __init__(self, message: str, *, reason: str, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason


class Unavailable(ConnectorError):
    """The platform could not answer: 5xx, timeout, connection failure. Retry with backoff."""

    retryable = True


class MappingError(ConnectorError):
    """A payload we cannot understand (missing or malformed field). The raw payload is kept
    by the caller with this reason; it must not block the other orders."""

    def __init__(self, message: str, *, path: str | None = None, **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class PushRejected(ConnectorError):
    """An inbound push failed verification (signature, timestamp) or cannot be parsed.
    Nothing from it may be stored."""
