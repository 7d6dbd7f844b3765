"""Auditing what the API reveals: the routes that can return buyer data unmasked call these
right before they answer.

The audit is written in a small transaction of its own that commits before the response is
sent; when it fails the request fails (500), so no unmasked answer ever leaves without its
record. Records are built from the response body itself, not from what is stored, so they
list exactly the fields the caller received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Final

from fastapi import Header

from shopbridge.api.problems import FieldError, ProblemError
from shopbridge.api.security import Principal
from shopbridge.core.types import check_safe_str
from shopbridge.storage.audit import MAX_REASON, Access, event_order, order_accesses, record
from shopbridge.storage.db import Database

REASON_HEADER: Final = "Reveal-Reason"
_MAX_HEADER_BYTES: Final = MAX_REASON * 4  # UTF-8 needs at most 4 bytes per character

RevealReasonHeader = Annotated[
    str | None,
    Header(
        alias=REASON_HEADER,
        max_length=_MAX_HEADER_BYTES,
        description="Why buyer data is being read (ticket number, case). Stored with the "
        f"audit record of every unmasked order; at most {MAX_REASON} characters (UTF-8).",
    ),
]


def reveal_reason(header: str | None) -> str | None:
    """The `Reveal-Reason` header as text, or a 422.

    HTTP hands header bytes over as Latin-1; a client that sends UTF-8 (a reason in Chinese)
    gets it back as written. Refused rather than cut: an audit reason that silently lost its
    end could lose the ticket number."""
    if header is None:
        return None
    try:
        text = header.encode("latin-1").decode("utf-8")
    except UnicodeError:
        text = header
    text = text.strip()
    detail: str | None = None
    if len(text) > MAX_REASON:
        detail = f"at most {MAX_REASON} characters"
    else:
        try:
            check_safe_str(text)
        except ValueError as exc:
            detail = str(exc)
    if detail is not None:
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: {REASON_HEADER} {detail}",
            errors=[FieldError(detail=detail, header=REASON_HEADER, code="invalid_header")],
        )
    return text or None


def order_reveals(
    principal: Principal, orders: Iterable[Mapping[str, Any]], *, via: str, reason: str | None
) -> list[Access]:
    """Records for unmasked order bodies sent to an API key, subject each order's `id`
    (orders without personal data yield none)."""
    return [
        access
        for order in orders
        for access in order_accesses(
            order, actor_type="api_key", actor_id=principal.key_id, via=via, reason=reason
        )
    ]


async def write_audit(db: Database, principal: Principal, accesses: Sequence[Access]) -> None:
    """Commit the records now, in one transaction (a whole list page at once), before the
    caller answers. Nothing to record means no write transaction at all."""
    if not accesses:
        return
    async with db.transaction() as session:
        record(session, principal.tenant_id, accesses)


async def audit_order_reveal(
    db: Database,
    principal: Principal,
    bodies: Sequence[Mapping[str, Any]],
    *,
    revealed: bool,
    via: str,
    reason_header: str | None,
) -> None:
    """The one call an order route makes before answering: checks `Reveal-Reason` (also when
    nothing is revealed, so a bad header is refused consistently) and, when the bodies are
    unmasked, records one access per order that carries personal data."""
    reason = reveal_reason(reason_header)
    if revealed:
        await write_audit(db, principal, order_reveals(principal, bodies, via=via, reason=reason))


async def audit_event_reveal(
    db: Database,
    principal: Principal,
    bodies: Sequence[Mapping[str, Any]],
    *,
    revealed: bool,
    via: str,
    reason_header: str | None,
) -> None:
    """As `audit_order_reveal`, for event bodies: one record per event whose order carries
    personal data, subject the order."""
    reason = reveal_reason(reason_header)
    if revealed:
        orders = [order for order in map(event_order, bodies) if order is not None]
        await write_audit(db, principal, order_reveals(principal, orders, via=via, reason=reason))
