"""Webhook endpoints of one tenant, their deliveries (the dead-letter list included) and
replay. Signing secrets are sealed at rest and bound to their endpoint row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.errors import Conflict, NotFound
from shopbridge.storage.events import endpoint_matches
from shopbridge.storage.outbox import append_event
from shopbridge.storage.tables import (
    OutboxEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
DELIVERY_STATES = (PENDING, SUCCEEDED, FAILED)
ENDPOINT_DISABLED = "webhook.endpoint_disabled"


def secret_owner(endpoint_id: str, which: str) -> str:
    return f"webhook:{endpoint_id}:{which}"


def signing_secrets(box: SecretBox, row: WebhookEndpointRow, now: datetime) -> list[str]:
    """The current secret, plus the previous one while its rotation overlap lasts."""
    secrets = [box.open(row.secret_sealed, owner=secret_owner(row.id, "secret")).decode()]
    if (
        row.previous_secret_sealed is not None
        and row.previous_secret_expires_at is not None
        and row.previous_secret_expires_at > now
    ):
        secrets.append(
            box.open(row.previous_secret_sealed, owner=secret_owner(row.id, "previous")).decode()
        )
    return secrets


@dataclass(frozen=True)
class DeliveryCounts:
    pending: int
    succeeded: int
    failed: int


async def disable_endpoint(
    session: AsyncSession, row: WebhookEndpointRow, reason: str, now: datetime
) -> int:
    """Disable, dead-letter what was still pending (so it shows up for replay), and tell the
    tenant through an event, all in one transaction. Returns the deliveries moved."""
    row.enabled = False
    row.disabled_reason = reason
    row.disabled_at = now
    row.updated_at = now
    result = await session.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.endpoint_id == row.id, WebhookDeliveryRow.state == PENDING)
        .values(
            state=FAILED,
            last_error=f"endpoint disabled: {reason}",
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    await append_event(
        session,
        tenant_id=row.tenant_id,
        type=ENDPOINT_DISABLED,
        subject_id=row.id,
        payload={"endpoint_id": row.id, "url": row.url, "reason": reason},
    )
    return int(getattr(result, "rowcount", 0) or 0)


class WebhookRepository:
    def __init__(self, session: AsyncSession, tenant_id: str, box: SecretBox) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.box = box

    def _seal(self, row: WebhookEndpointRow, secret: str) -> None:
        row.secret_sealed, _ = self.box.seal(secret.encode(), owner=secret_owner(row.id, "secret"))

    async def create(
        self,
        *,
        url: str,
        secret: str,
        description: str = "",
        event_types: Sequence[str] = (),
        shop_ids: Sequence[str] = (),
        enabled: bool = True,
        pii_allowed: bool = False,
    ) -> WebhookEndpointRow:
        now = utcnow()
        row = WebhookEndpointRow(
            id=new_id("we"),
            tenant_id=self.tenant_id,
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            shop_ids=sorted(set(shop_ids)),
            enabled=enabled,
            pii_allowed=pii_allowed,
            created_at=now,
            updated_at=now,
        )
        self._seal(row, secret)
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, endpoint_id: str, *, for_update: bool = False) -> WebhookEndpointRow:
        stmt = select(WebhookEndpointRow).where(
            WebhookEndpointRow.tenant_id == self.tenant_id, WebhookEndpointRow.id == endpoint_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"webhook endpoint {endpoint_id} not found")
        return row

    async def list(
        self, *, before_id: str | None = None, limit: int = 50
    ) -> Sequence[WebhookEndpointRow]:
        stmt = select(WebhookEndpointRow).where(WebhookEndpointRow.tenant_id == self.tenant_id)
        if before_id:
            stmt = stmt.where(WebhookEndpointRow.id < before_id)
        return (
            await self.session.scalars(stmt.order_by(WebhookEndpointRow.id.desc()).limit(limit))
        ).all()

    async def update(self, endpoint_id: str, **changes: Any) -> WebhookEndpointRow:
        row = await self.get(endpoint_id, for_update=True)
        now = utcnow()
        for name in ("url", "description", "pii_allowed"):
            if name in changes:
                setattr(row, name, changes[name])
        for name in ("event_types", "shop_ids"):
            if name in changes:
                setattr(row, name, sorted(set(changes[name])))
        if "enabled" in changes and changes["enabled"] != row.enabled:
            row.enabled = bool(changes["enabled"])
            if row.enabled:
                # A fresh start: the failure clock restarts; dead letters stay for replay.
                row.disabled_reason = None
                row.disabled_at = None
                row.failing_since = None
            else:
                await disable_endpoint(self.session, row, "disabled through the API", now)
        row.updated_at = now
        await self.session.flush()
        return row

    async def delete(self, endpoint_id: str) -> None:
        row = await self.get(endpoint_id)
        await self.session.delete(row)
        await self.session.flush()

    async def rotate_secret(
        self, endpoint_id: str, *, new_secret: str, overlap: timedelta
    ) -> WebhookEndpointRow:
        row = await self.get(endpoint_id, for_update=True)
        now = utcnow()
        if overlap > timedelta(0):
            current = self.box.open(row.secret_sealed, owner=secret_owner(row.id, "secret"))
            row.previous_secret_sealed, _ = self.box.seal(
                current, owner=secret_owner(row.id, "previous")
            )
            row.previous_secret_expires_at = now + overlap
        else:
            row.previous_secret_sealed = None
            row.previous_secret_expires_at = None
        self._seal(row, new_secret)
        row.updated_at = now
        await self.session.flush()
        return row

    async def counts(self, endpoint_id: str) -> DeliveryCounts:
        stmt = (
            select(WebhookDeliveryRow.state, func.count())
            .where(
                WebhookDeliveryRow.tenant_id == self.tenant_id,
                WebhookDeliveryRow.endpoint_id == endpoint_id,
            )
            .group_by(WebhookDeliveryRow.state)
        )
        by_state = {state: int(n) for state, n in (await self.session.execute(stmt)).all()}
        return DeliveryCounts(
            by_state.get(PENDING, 0), by_state.get(SUCCEEDED, 0), by_state.get(FAILED, 0)
        )

    async def deliveries(
        self,
        endpoint_id: str,
        *,
        state: str | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> Sequence[tuple[WebhookDeliveryRow, str]]:
        """Newest first, with each delivery's event type."""
        await self.get(endpoint_id)
        stmt = (
            select(WebhookDeliveryRow, OutboxEventRow.type)
            .join(OutboxEventRow, OutboxEventRow.id == WebhookDeliveryRow.event_id)
            .where(
                WebhookDeliveryRow.tenant_id == self.tenant_id,
                WebhookDeliveryRow.endpoint_id == endpoint_id,
            )
        )
        if state:
            stmt = stmt.where(WebhookDeliveryRow.state == state)
        if before_id:
            stmt = stmt.where(WebhookDeliveryRow.id < before_id)
        stmt = stmt.order_by(WebhookDeliveryRow.id.desc()).limit(limit)
        return [(d, t) for d, t in (await self.session.execute(stmt)).all()]

    async def attempts(self, delivery_id: str, *, limit: int = 20) -> Sequence[WebhookAttemptRow]:
        stmt = (
            select(WebhookAttemptRow)
            .where(
                WebhookAttemptRow.tenant_id == self.tenant_id,
                WebhookAttemptRow.delivery_id == delivery_id,
            )
            .order_by(WebhookAttemptRow.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    # -- replay ---------------------------------------------------------------------------

    async def _enabled_endpoint(self, endpoint_id: str) -> WebhookEndpointRow:
        row = await self.get(endpoint_id)
        if not row.enabled:
            raise Conflict(
                f"webhook endpoint {endpoint_id} is disabled ({row.disabled_reason}); "
                "enable it (PATCH enabled=true) before replaying to it"
            )
        return row

    async def _targets(self, endpoint_id: str | None) -> Sequence[WebhookEndpointRow]:
        if endpoint_id:
            return [await self._enabled_endpoint(endpoint_id)]
        stmt = select(WebhookEndpointRow).where(
            WebhookEndpointRow.tenant_id == self.tenant_id, WebhookEndpointRow.enabled.is_(True)
        )
        return (await self.session.scalars(stmt)).all()

    async def _schedule(
        self,
        events: Sequence[OutboxEventRow],
        endpoints: Sequence[WebhookEndpointRow],
        *,
        forced: bool,
    ) -> int:
        """(Re)queue each event for each endpoint: reset an existing delivery to a fresh
        pending one, or create it when the endpoint did not exist or did not match then."""
        now = utcnow()
        scheduled = 0
        for endpoint in endpoints:
            chosen = [
                e
                for e in events
                if e.position is not None
                and (forced or endpoint_matches(endpoint, e.type, e.shop_id))
            ]
            if not chosen:
                continue
            ids = [e.id for e in chosen]
            existing = set(
                (
                    await self.session.scalars(
                        select(WebhookDeliveryRow.event_id).where(
                            WebhookDeliveryRow.endpoint_id == endpoint.id,
                            WebhookDeliveryRow.event_id.in_(ids),
                        )
                    )
                ).all()
            )
            if existing:
                await self.session.execute(
                    update(WebhookDeliveryRow)
                    .where(
                        WebhookDeliveryRow.endpoint_id == endpoint.id,
                        WebhookDeliveryRow.event_id.in_(list(existing)),
                    )
                    .values(
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                )
            fresh = [
                {
                    "id": new_id("del"),
                    "tenant_id": self.tenant_id,
                    "endpoint_id": endpoint.id,
                    "event_id": e.id,
                    "position": e.position,
                    "ordering_key": e.subject_id or e.id,
                    "state": PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for e in chosen
                if e.id not in existing
            ]
            if fresh:
                await self.session.execute(insert(WebhookDeliveryRow), fresh)
            scheduled += len(chosen)
        return scheduled

    async def replay_event(self, event_id: str, *, endpoint_id: str | None = None) -> int:
        stmt = select(OutboxEventRow).where(
            OutboxEventRow.tenant_id == self.tenant_id, OutboxEventRow.id == event_id
        )
        event = (await self.session.scalars(stmt)).first()
        if event is None:
            raise NotFound(f"event {event_id} not found")
        if event.position is None:
            return 0  # not yet sequenced: its first delivery is still ahead of it
        return await self._schedule(
            [event], await self._targets(endpoint_id), forced=endpoint_id is not None
        )

    async def replay_failed(self, endpoint_id: str) -> int:
        await self._enabled_endpoint(endpoint_id)
        result = await self.session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.tenant_id == self.tenant_id,
                WebhookDeliveryRow.endpoint_id == endpoint_id,
                WebhookDeliveryRow.state == FAILED,
            )
            .values(
                state=PENDING,
                attempts=0,
                next_attempt_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def replay_since(
        self,
        *,
        shop_id: str,
        since: datetime,
        until: datetime | None = None,
        endpoint_id: str | None = None,
        batch: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Re-queue the shop's sequenced events since `since` (batches of `batch`);
        `progress(events_seen, scheduled)` is called after each batch."""
        targets = await self._targets(endpoint_id)
        seen = 0
        scheduled = 0
        after = 0
        while True:
            stmt = select(OutboxEventRow).where(
                OutboxEventRow.tenant_id == self.tenant_id,
                OutboxEventRow.shop_id == shop_id,
                OutboxEventRow.created_at >= since,
                OutboxEventRow.position > after,
            )
            if until is not None:
                stmt = stmt.where(OutboxEventRow.created_at < until)
            events = (
                await self.session.scalars(stmt.order_by(OutboxEventRow.position).limit(batch))
            ).all()
            if not events:
                return scheduled
            scheduled += await self._schedule(events, targets, forced=False)
            after = int(events[-1].position or 0)
            seen += len(events)
            if progress is not None:
                progress(seen, scheduled)
