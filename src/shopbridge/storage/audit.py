"""The access audit: every time buyer data leaves ShopBridge in plaintext (an API reveal, a
raw payload, a webhook to an endpoint allowed to receive it, a platform decrypt), one record
says who, what, which fields, why and through which door.

Records never hold the data itself, only field names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core import Order
from shopbridge.core.ids import new_id
from shopbridge.core.sensitive import Sensitive, SensitiveKind, iter_sensitive_paths
from shopbridge.core.time import utcnow
from shopbridge.storage.tables import AuditRow

MAX_REASON = 500

REVEAL: Final = "reveal"
RAW: Final = "raw"
GRANT: Final = "grant"
REVOKE: Final = "revoke"
ACTIONS: Final = (REVEAL, RAW, "decrypt", "waybill", GRANT, REVOKE)
"""Every action a record can carry (`GET /v1/audit?action=` accepts these)."""

_PATH_TOKEN: Final = re.compile(r"\[\]|\{\}|[^.\[\]{}]+")


@dataclass(frozen=True)
class Access:
    """One disclosure of buyer data, before it is written."""

    actor_type: str
    """`api_key`, `webhook_endpoint` or `cli`."""
    actor_id: str
    action: str
    """`reveal` (masked fields shown in clear), `raw` (native payload), `decrypt` (platform
    decrypt call), `waybill` (receiver handed to a logistics API), `grant` / `revoke` (a
    webhook endpoint allowed / no longer allowed to receive buyer data)."""
    subject_type: str
    subject_id: str | None
    fields: Sequence[str]
    via: str
    reason: str | None = None


def record(session: AsyncSession, tenant_id: str, accesses: Sequence[Access]) -> list[AuditRow]:
    """Adds the records to the session (the caller's transaction commits them)."""
    now = utcnow()
    rows = [
        AuditRow(
            id=new_id("aud"),
            tenant_id=tenant_id,
            actor_type=a.actor_type,
            actor_id=a.actor_id,
            action=a.action,
            subject_type=a.subject_type,
            subject_id=a.subject_id,
            fields=sorted(set(a.fields)),
            reason=(a.reason or None) and a.reason[:MAX_REASON],
            via=a.via[:255],
            created_at=now,
        )
        for a in accesses
    ]
    session.add_all(rows)
    return rows


def _holds_value(value: Any, tokens: Sequence[str]) -> bool:
    if not tokens:
        if isinstance(value, Sensitive):
            return bool(value.reveal())
        return value not in (None, "", [], {})
    head, rest = tokens[0], tokens[1:]
    if head == "[]":
        return isinstance(value, list | tuple) and any(_holds_value(v, rest) for v in value)
    if head == "{}":
        return isinstance(value, Mapping) and any(_holds_value(v, rest) for v in value.values())
    return isinstance(value, Mapping) and _holds_value(value.get(head), rest)


def disclosed_fields(
    document: Mapping[str, Any], model: type[BaseModel] = Order
) -> tuple[list[str], list[str]]:
    """The sensitive paths of `model` that hold a value in `document`, as (personal fields,
    native payloads).

    `document` is what is about to leave (a response body, an event's order), not what is
    stored: a field that is empty, absent or withheld (`raw` without `include_raw`) was not
    disclosed and is not listed, so the record says exactly what the reader got. Only the
    path names are returned, never a value.
    """
    personal: list[str] = []
    payloads: list[str] = []
    for path, kind in iter_sensitive_paths(model):
        if _holds_value(document, _PATH_TOKEN.findall(path)):
            (payloads if kind is SensitiveKind.PAYLOAD else personal).append(path)
    return personal, payloads


def order_accesses(
    document: Mapping[str, Any],
    *,
    actor_type: str,
    actor_id: str,
    via: str,
    reason: str | None = None,
    subject_id: str | None = None,
) -> list[Access]:
    """The records for one unmasked order leaving ShopBridge: a `reveal` for its personal
    fields and a `raw` for native payloads, or nothing when it carries no personal data.

    Two actions rather than one so `action=raw` finds every disclosure of the untouched
    platform document, which may hold more than the unified fields name."""
    personal, payloads = disclosed_fields(document)
    order_id = subject_id or document.get("id")
    subject = order_id if isinstance(order_id, str) else None
    accesses: list[Access] = []
    for action, fields in ((REVEAL, personal), (RAW, payloads)):
        if fields:
            accesses.append(
                Access(actor_type, actor_id, action, "order", subject, fields, via, reason)
            )
    return accesses


def event_order(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The order an event body carries in `data.order` (order events), else None (stock,
    shipment and endpoint events hold no buyer data)."""
    data = body.get("data")
    order = data.get("order") if isinstance(data, Mapping) else None
    return order if isinstance(order, Mapping) else None


async def list_records(
    session: AsyncSession,
    tenant_id: str,
    *,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
) -> Sequence[AuditRow]:
    """Newest first, paged by id."""
    stmt = select(AuditRow).where(AuditRow.tenant_id == tenant_id)
    if subject_type:
        stmt = stmt.where(AuditRow.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditRow.subject_id == subject_id)
    if actor_id:
        stmt = stmt.where(AuditRow.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditRow.action == action)
    if since is not None:
        stmt = stmt.where(AuditRow.created_at >= since)
    if before_id:
        stmt = stmt.where(AuditRow.id < before_id)
    return (await session.scalars(stmt.order_by(AuditRow.id.desc()).limit(limit))).all()


async def prune(session: AsyncSession, older_than: datetime) -> int:
    """Drop records older than retention (`audit_retention_days`), across tenants."""
    result = await session.execute(delete(AuditRow).where(AuditRow.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
