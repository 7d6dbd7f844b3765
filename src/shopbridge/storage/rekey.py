"""Data-key rotation: seal everything again with a new data key, then retire the old ones.

Runs online, beside serving processes: each batch is its own short transaction, rows are
re-sealed only when a value still names an older key (so an interrupted run resumes where it
stopped), and the old keys are retired only after a pass finds nothing sealed with them.
Serving processes switch to the new key within `KEY_REFRESH_SECONDS`; a value they sealed
with the old key in that window is caught by the second pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from shopbridge.core import fastjson
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.shops import credentials_owner
from shopbridge.storage.tables import (
    OrderRow,
    OutboxEventRow,
    ShopRow,
    UnmappedPayloadRow,
    WebhookEndpointRow,
)
from shopbridge.storage.vault import KEY_REFRESH_SECONDS, ORDER_PATHS, Vault, is_sealed, visit
from shopbridge.storage.webhooks import secret_owner

Progress = Callable[[str, int], None]


@dataclass
class RekeyReport:
    new_key_id: str
    resealed: dict[str, int] = field(
        default_factory=lambda: {"orders": 0, "events": 0, "unmapped": 0}
    )
    caught_late: int = 0
    """Rows the second pass re-sealed: sealed with the old key by a serving process that had
    not yet switched."""
    retired: list[str] = field(default_factory=list)


def _reseal_document(vault: Vault, tenant_id: str, doc: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of `doc` with every value not sealed by the active key sealed again, or None
    when nothing needed it."""
    changed = False
    active = vault.active_key_id

    def reseal(value: Any) -> Any:
        nonlocal changed
        if is_sealed(value) and vault.key_of(value) != active:
            changed = True
            return vault.seal_value(vault.open_value(value, tenant_id), tenant_id)
        return value

    copy: dict[str, Any] = fastjson.copy(doc)
    for path in ORDER_PATHS:
        visit(copy, path.parts, reseal)
    return copy if changed else None


def _reseal_value(vault: Vault, tenant_id: str, value: Any) -> Any:
    if is_sealed(value) and vault.key_of(value) != vault.active_key_id:
        return vault.seal_value(vault.open_value(value, tenant_id), tenant_id)
    return None


async def _pass(
    db: Database, vault: Vault, report: RekeyReport, batch: int, progress: Progress | None
) -> int:
    """One sweep over every table that holds sealed buyer data; returns rows changed."""
    changed = 0
    last_id = ""
    while True:  # orders, by id
        async with db.transaction() as session:
            rows = list(
                await session.scalars(
                    select(OrderRow).where(OrderRow.id > last_id).order_by(OrderRow.id).limit(batch)
                )
            )
            for row in rows:
                doc = _reseal_document(vault, row.tenant_id, row.document)
                raw = _reseal_value(vault, row.tenant_id, row.raw)
                if doc is not None:
                    row.document = doc
                if raw is not None:
                    row.raw = raw
                if doc is not None or raw is not None:
                    changed += 1
                    report.resealed["orders"] += 1
        if progress:
            progress("orders", len(rows))
        if len(rows) < batch:
            break
        last_id = rows[-1].id
    last_seq = 0
    while True:  # outbox events carrying an order snapshot
        async with db.transaction() as session:
            events = list(
                await session.scalars(
                    select(OutboxEventRow)
                    .where(OutboxEventRow.seq > last_seq)
                    .order_by(OutboxEventRow.seq)
                    .limit(batch)
                )
            )
            for event in events:
                order = event.payload.get("order") if isinstance(event.payload, dict) else None
                if isinstance(order, dict):
                    doc = _reseal_document(vault, event.tenant_id, order)
                    if doc is not None:
                        event.payload = {**event.payload, "order": doc}
                        changed += 1
                        report.resealed["events"] += 1
        if progress:
            progress("events", len(events))
        if len(events) < batch:
            break
        last_seq = events[-1].seq
    last_unmapped = 0
    while True:
        async with db.transaction() as session:
            unmapped = list(
                await session.scalars(
                    select(UnmappedPayloadRow)
                    .where(UnmappedPayloadRow.id > last_unmapped)
                    .order_by(UnmappedPayloadRow.id)
                    .limit(batch)
                )
            )
            for item in unmapped:
                raw = _reseal_value(vault, item.tenant_id, item.raw)
                if raw is not None:
                    item.raw = raw
                    changed += 1
                    report.resealed["unmapped"] += 1
        if progress:
            progress("unmapped payloads", len(unmapped))
        if len(unmapped) < batch:
            break
        last_unmapped = unmapped[-1].id
    return changed


async def rotate_data_key(
    db: Database,
    vault: Vault,
    *,
    batch: int = 500,
    settle_seconds: float = KEY_REFRESH_SECONDS + 1,
    progress: Progress | None = None,
) -> RekeyReport:
    """New data key, everything re-sealed with it, old keys retired when nothing uses them."""
    async with db.transaction() as session:
        report = RekeyReport(new_key_id=await vault.rotate(session))
    await _pass(db, vault, report, batch, progress)
    if settle_seconds > 0:
        # Serving processes switch keys within KEY_REFRESH_SECONDS; catch what they sealed
        # with the old key until then.
        await asyncio.sleep(settle_seconds)
    report.caught_late = await _pass(db, vault, report, batch, progress)
    # Retired keys still open what they sealed (nothing should be left); they never seal.
    async with db.transaction() as session:
        report.retired = await vault.retire_all_but_active(session, utcnow())
    return report


@dataclass
class RewrapReport:
    data_keys: int = 0
    shop_credentials: int = 0
    webhook_secrets: int = 0


def _reseal_master(box: SecretBox, sealed: bytes | None, owner: str) -> bytes | None:
    if sealed is None or box.key_id_of(sealed) == box.active_key_id:
        return None
    return box.seal(box.open(sealed, owner=owner), owner=owner)[0]


async def rewrap(db: Database, vault: Vault) -> RewrapReport:
    """After a master-key change (`SHOPBRIDGE_SECRET_KEY="new,old"`): everything the master
    key seals directly (data keys, shop credentials, webhook signing secrets) is sealed
    again with the new one, so the old one can leave the configuration."""
    box = vault.box
    report = RewrapReport()
    async with db.transaction() as session:
        report.data_keys = await vault.rewrap(session)
        for shop in await session.scalars(select(ShopRow)):
            sealed = _reseal_master(box, shop.credentials_sealed, credentials_owner(shop.id))
            if sealed is not None:
                shop.credentials_sealed, shop.credentials_key_id = sealed, box.active_key_id
                report.shop_credentials += 1
        for endpoint in await session.scalars(select(WebhookEndpointRow)):
            current = _reseal_master(
                box, endpoint.secret_sealed, secret_owner(endpoint.id, "secret")
            )
            previous = _reseal_master(
                box, endpoint.previous_secret_sealed, secret_owner(endpoint.id, "previous")
            )
            if current is not None:
                endpoint.secret_sealed = current
            if previous is not None:
                endpoint.previous_secret_sealed = previous
            if current is not None or previous is not None:
                report.webhook_secrets += 1
    return report
