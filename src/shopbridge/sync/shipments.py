"""Confirming shipments on the platforms: one attempt (shared by the API and the worker) and
the worker that retries pending shipments.

Why it is safe to crash anywhere: a shipment is committed, already claimed by its first
attempt, before the platform is called. If the process dies during the call, the claim's
lease runs out and the worker tries again. Because that earlier call may have reached the
platform, any attempt after the first one first reads the order back and looks for its
tracking number; if the parcel is already there, it is confirmed without being sent twice.
Outcomes are written only by the holder of the latest claim, so two attempts never both
confirm, and a worker that lost its lease cannot overwrite a newer result.

What an attempt ends in:

- the platform accepted it: `confirmed` (+ `shipment.confirmed`); then the order is fetched
  again and upserted, so the order's own `order.status_changed` follows as for any change
  (if that fetch fails, the next sync catches the order up);
- the platform refused it (`Rejected`, `NotFound`: already shipped, cancelled meanwhile, bad
  tracking number...): `rejected` with the platform's code and words (+ `shipment.failed`),
  never retried, since it cannot succeed as it is;
- the platform could not answer (`Unavailable`, `RateLimited`, a timeout, an expired token):
  stays `pending` with the reason and `next_attempt_at`, 10 s doubling up to 1 h; after
  `give_up_after` (24 h) from its creation it is `rejected` as "gave up after N attempts".
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from shopbridge.connectors import (
    AuthExpired,
    Capability,
    Connector,
    ConnectorError,
    MappingError,
    RateLimited,
    Rejected,
    ShipmentLineRequest,
    ShipmentRequest,
)
from shopbridge.connectors.registry import UnknownConnector, connector_class
from shopbridge.core import Order, ShipmentStatus
from shopbridge.core.carriers import PlatformCarriers, platform_carriers
from shopbridge.core.time import utcnow
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shipments import (
    PENDING,
    Claim,
    ShipmentRepository,
    claim_due,
    notify_buyer,
    shipment_lines,
)
from shopbridge.storage.tables import OrderRow, ShipmentRow, ShopRow
from shopbridge.sync.connect import ConnectorFactory, build_connector

log = get_logger(__name__)

MAX_CODE_LENGTH = 64
MAX_MESSAGE_LENGTH = 1000


@dataclass
class ShipmentSettings:
    timeout: float = 20.0
    """Seconds one confirmation (all its platform calls) may take; then it counts as a
    transient failure. The API waits this long at most before answering."""
    lease: timedelta = timedelta(minutes=2)
    """How long a claim keeps other attempts off a shipment; longer than `timeout` plus the
    order re-fetch, so it only runs out when its holder is gone."""
    backoff_base: float = 10.0
    backoff_max: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    batch: int = 8
    """Shipments one worker confirms concurrently."""
    idle_sleep: float = 2.0


@dataclass(frozen=True)
class AttemptResult:
    shipment_id: str
    state: str
    """The shipment's state after the attempt."""
    recorded: bool
    """False when the attempt's claim had been taken over (nothing was written)."""


@dataclass(frozen=True)
class _Confirmed:
    platform_shipment_id: str | None
    order: Order | None = None
    """The order as just read from the platform, when the attempt read it anyway."""


@dataclass(frozen=True)
class _Refused:
    code: str | None
    message: str


@dataclass(frozen=True)
class _Transient:
    code: str | None
    message: str
    retry_after: float | None = None


_Outcome = _Confirmed | _Refused | _Transient


def backoff(attempt: int, settings: ShipmentSettings, retry_after: float | None = None) -> float:
    """Seconds before the next attempt: 10 s doubling per attempt up to 1 h, plus up to 10 %
    jitter so retries of many shipments after one outage do not arrive together; never
    sooner than the platform's own `Retry-After`."""
    ceiling = min(settings.backoff_base * 2.0 ** max(attempt - 1, 0), settings.backoff_max)
    delay = ceiling * random.uniform(1.0, 1.1)  # noqa: S311 - jitter, not crypto
    return max(delay, retry_after or 0.0)


def classify(exc: BaseException, platform: str) -> _Outcome:
    """A connector failure as an outcome: refusals are final, everything else is retried."""
    if isinstance(exc, AuthExpired):
        message = exc.message
        if "re-authorise" not in message:
            message = f"re-authorise the shop: {message}"
        return _Transient(exc.code or "auth_expired", message)
    if isinstance(exc, RateLimited):
        return _Transient(exc.code or "rate_limited", exc.message, exc.retry_after)
    if isinstance(exc, Rejected):
        return _Refused(exc.code or "rejected", exc.reason)
    if isinstance(exc, MappingError):
        # The answer could not be read: whether the platform shipped is unknown, so it is
        # retried (and the retry looks for the parcel on the platform first).
        return _Transient(exc.code or "unreadable_answer", exc.message)
    if isinstance(exc, ConnectorError):
        if exc.retryable:
            return _Transient(exc.code or type(exc).__name__, exc.message)
        return _Refused(exc.code or type(exc).__name__, exc.message)
    if isinstance(exc, NotImplementedError):
        return _Refused("not_supported", f"the {platform} connector does not confirm shipments")
    return _Transient("internal", f"internal error ({type(exc).__name__}); will retry")


def carrier_support(platform: str) -> PlatformCarriers | None:
    """What the platform's connector accepts. Loading the connector class through the
    registry imports its carriers module, which declares it (`core.carriers`); None when no
    connector is installed or it declares nothing (then only the platform can tell)."""
    try:
        connector_class(platform)
    except UnknownConnector:
        return None
    return platform_carriers(platform)


def confirms_shipments(platform: str) -> bool:
    try:
        return Capability.SHIPMENT_CONFIRM in connector_class(platform).info.capabilities
    except UnknownConnector:
        return False


def _clip(text: str | None, limit: int) -> str | None:
    return text[:limit] if text is not None else None


class ShipmentConfirmer:
    """Runs one claimed attempt end to end: call, record the outcome, refresh the order."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        settings: ShipmentSettings | None = None,
        connectors: ConnectorFactory = connector_class,
        base_urls: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.settings = settings or ShipmentSettings()
        self.connectors = connectors
        self.base_urls = base_urls or {}
        """Per-shop API endpoint overrides (shop id -> URL), as for the sync engine."""

    def _connector(self, shop: ShopRow) -> Connector:
        return build_connector(
            self.box, shop, connectors=self.connectors, base_url=self.base_urls.get(shop.id)
        )

    async def attempt(self, claim: Claim) -> AttemptResult:
        async with self.db.read() as session:
            repo = ShipmentRepository(session, claim.tenant_id)
            row = await repo.get(claim.shipment_id)
            if row.state != PENDING or row.attempts != claim.attempt:
                return AttemptResult(row.id, row.state, recorded=False)
            order = await repo.order_of(row)
            shop = await session.get(ShopRow, row.shop_id)
        if shop is None or shop.tenant_id != claim.tenant_id:  # pragma: no cover - FK
            raise LookupError(f"shop of shipment {row.id} not found")
        connector: Connector | None = None
        try:
            try:
                connector = self._connector(shop)
                outcome = await asyncio.wait_for(
                    self._confirm(connector, row, order, claim.attempt),
                    timeout=self.settings.timeout,
                )
            except TimeoutError:
                outcome = _Transient(
                    "timeout",
                    f"the platform did not answer within {self.settings.timeout:g} s",
                )
            except UnknownConnector:
                outcome = _Refused(
                    "no_connector", f"no connector is installed for platform {shop.platform}"
                )
            except Exception as exc:  # a bug or an unreadable secret: logged by type, retried
                log.error(
                    "shipment_attempt_crashed", shipment_id=row.id, error_type=type(exc).__name__
                )
                outcome = classify(exc, shop.platform)
            result = await self._record(claim, row, outcome)
            if result.recorded and isinstance(outcome, _Confirmed) and connector is not None:
                await self._refresh_order(connector, shop, order, outcome.order)
            return result
        finally:
            if connector is not None:
                await connector.aclose()

    async def _confirm(
        self, connector: Connector, row: ShipmentRow, order: OrderRow, attempt: int
    ) -> _Outcome:
        if attempt > 1:
            found = await self._already_on_platform(connector, row, order)
            if found is not None:
                return found
        request = ShipmentRequest(
            carrier_code=row.carrier_code,
            tracking_number=row.tracking_number,
            lines=tuple(ShipmentLineRequest(x.line_id, x.quantity) for x in shipment_lines(row)),
            tracking_url=row.tracking_url,
            notify_buyer=notify_buyer(row),
            carrier_name=row.carrier_name,
        )
        try:
            result = await connector.confirm_shipment(order.platform_order_id, request)
        except (ConnectorError, NotImplementedError) as exc:
            return classify(exc, order.platform)
        return _Confirmed(result.platform_shipment_id)

    async def _already_on_platform(
        self, connector: Connector, row: ShipmentRow, order: OrderRow
    ) -> _Confirmed | None:
        """After an attempt whose outcome is unknown (crash, timeout, unreadable answer):
        is the parcel already on the platform? A failed read says nothing; the confirm call
        then tells."""
        try:
            current = await connector.get_order(order.platform_order_id)
        except (ConnectorError, NotImplementedError):
            return None
        for parcel in current.shipments:
            if (
                parcel.tracking_number is not None
                and parcel.tracking_number.strip() == row.tracking_number
                and parcel.status != ShipmentStatus.CANCELLED
            ):
                return _Confirmed(parcel.native_id, current)
        return None

    async def _record(self, claim: Claim, row: ShipmentRow, outcome: _Outcome) -> AttemptResult:
        async with self.db.transaction() as session:
            repo = ShipmentRepository(session, claim.tenant_id)
            if isinstance(outcome, _Confirmed):
                updated = await repo.confirm(claim, _clip(outcome.platform_shipment_id, 255))
            elif isinstance(outcome, _Refused):
                updated = await repo.reject(
                    claim,
                    _clip(outcome.code, MAX_CODE_LENGTH),
                    _clip(outcome.message, MAX_MESSAGE_LENGTH) or "refused",
                )
            else:
                now = utcnow()
                deadline = row.created_at + self.settings.give_up_after
                code = _clip(outcome.code, MAX_CODE_LENGTH)
                if now >= deadline:
                    message = f"gave up after {claim.attempt} attempts: {outcome.message}"
                    updated = await repo.reject(
                        claim, "gave_up", _clip(message, MAX_MESSAGE_LENGTH) or message
                    )
                else:
                    delay = backoff(claim.attempt, self.settings, outcome.retry_after)
                    at = min(now + timedelta(seconds=delay), deadline)
                    updated = await repo.retry_later(
                        claim, code, _clip(outcome.message, MAX_MESSAGE_LENGTH) or "", at
                    )
        if updated is None:
            log.info("shipment_claim_lost", shipment_id=row.id, attempt=claim.attempt)
            async with self.db.read() as session:
                current = await ShipmentRepository(session, claim.tenant_id).get(row.id)
            return AttemptResult(row.id, current.state, recorded=False)
        log.info(
            "shipment_attempt",
            shipment_id=row.id,
            attempt=claim.attempt,
            state=updated.state,
            code=updated.error_code,
        )
        return AttemptResult(row.id, updated.state, recorded=True)

    async def _refresh_order(
        self, connector: Connector, shop: ShopRow, order: OrderRow, fetched: Order | None
    ) -> None:
        """Bring the order up to date after a confirmed shipment, through the same upsert as
        sync (so its own events follow). Failing here is harmless: sync catches up."""
        try:
            current = fetched
            if current is None:
                current = await asyncio.wait_for(
                    connector.get_order(order.platform_order_id), timeout=self.settings.timeout
                )
            async with self.db.transaction() as session:
                await OrderRepository(session, shop.tenant_id).upsert(shop, current)
        except Exception as exc:  # logged by type only; the next sync fetches the order
            log.warning(
                "shipment_order_refresh_failed", order_id=order.id, error_type=type(exc).__name__
            )


class ShipmentWorker:
    """Retries pending shipments whose next attempt is due (several workers may run)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        settings: ShipmentSettings | None = None,
        connectors: ConnectorFactory = connector_class,
        base_urls: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or ShipmentSettings()
        self.confirmer = ShipmentConfirmer(
            db, box, settings=self.settings, connectors=connectors, base_urls=base_urls
        )

    async def run_once(self, shipment_ids: Collection[str] | None = None) -> list[AttemptResult]:
        """Claim the due shipments (optionally only these) and attempt them concurrently."""
        async with self.db.transaction() as session:
            claims = await claim_due(
                session,
                lease=self.settings.lease,
                limit=self.settings.batch,
                shipment_ids=shipment_ids,
            )
        results = await asyncio.gather(
            *(self.confirmer.attempt(claim) for claim in claims), return_exceptions=True
        )
        done: list[AttemptResult] = []
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # Left pending: the claim's lease runs out and the shipment is tried again.
                log.error(
                    "shipment_attempt_failed",
                    shipment_id=claim.shipment_id,
                    error_type=type(result).__name__,
                )
                done.append(AttemptResult(claim.shipment_id, PENDING, recorded=False))
            else:
                done.append(result)
        return done

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("shipment_worker_started")
        while not stop.is_set():
            try:
                results = await self.run_once()
            except Exception as exc:  # keep the worker alive; the cause is logged by type
                log.error("shipment_cycle_failed", error_type=type(exc).__name__)
                results = []
            if not results:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.idle_sleep)
        log.info("shipment_worker_stopped")


__all__ = [
    "AttemptResult",
    "ShipmentConfirmer",
    "ShipmentSettings",
    "ShipmentWorker",
    "backoff",
    "carrier_support",
    "classify",
    "confirms_shipments",
]
