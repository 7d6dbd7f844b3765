"""The sync log's recorder: no buyer data ever reaches the table, the buffer is bounded and
survives a database outage, the background writer flushes in batches, and recording costs
microseconds on the hot path."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from shopbridge.connectors import Rejected, ShopContext, Unavailable
from shopbridge.connectors.registry import connector_class
from shopbridge.connectors.transport import CallRecord
from shopbridge.core.sensitive import Sensitive
from shopbridge.logging import collect_pii
from shopbridge.storage.db import Database
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.tables import SyncLogRow
from shopbridge.sync.engine import SyncEngine
from shopbridge.sync.platform_metrics import SYNC_LOG_DROPPED, SYNC_LOG_FLUSH_FAILURES
from shopbridge.sync.synclog import SYNC_LOG, SyncLog
from tests.conftest import TenantClient
from tests.operations.conftest import SHOPIFY_DOMAIN, SHOPIFY_SECRET, Shop, sync_log
from tests.operations.test_sync_log import _webhook, fault

# Marker values of the seeded buyers: none may ever appear in the sync log.
NAME_FIRST, NAME_LAST = "Zebulonmarker", "Quixotefield"
EMAIL = "zeb.marker@example.org"
MOBILE = "13912345678"
STREET = "77 Markerlane Road"
TB_NAME, TB_MOBILE, TB_STREET, TB_NICK = "马可标记", "13787654321", "标记路77号", "markernick"
MARKERS = (NAME_FIRST, NAME_LAST, EMAIL, MOBILE, STREET, TB_NAME, TB_MOBILE, TB_STREET, TB_NICK)


async def all_rows(app: FastAPI) -> list[SyncLogRow]:
    await SYNC_LOG.flush(app.state.db)
    with unscoped():
        async with app.state.db.read() as session:
            return list((await session.scalars(select(SyncLogRow))).all())


def dump(row: SyncLogRow) -> str:
    return json.dumps({c.name: getattr(row, c.name) for c in SyncLogRow.__table__.c}, default=str)


async def test_no_buyer_data_in_any_row(
    app: FastAPI,
    engine: SyncEngine,
    shopify_shop: Shop,
    taobao_shop: Shop,
    shopify_sandbox: Any,
    anon: httpx.AsyncClient,
) -> None:
    buyer = {
        "first_name": NAME_FIRST,
        "last_name": NAME_LAST,
        "email": EMAIL,
        "phone": MOBILE,
        "address1": STREET,
    }
    for _ in range(3):
        shopify_shop.control.post(
            "/orders", json={"payment": "paid", "buyer": buyer, "note": f"call {MOBILE}"}
        ).raise_for_status()
    taobao_shop.control.post(
        "/trades",
        json={
            "count": 3,
            "buyer": {"name": TB_NAME, "mobile": TB_MOBILE, "address": TB_STREET, "nick": TB_NICK},
            "buyer_message": f"请打 {TB_MOBILE} 找 {TB_NAME}",
        },
    ).raise_for_status()
    # successes, failures mid-pagination, an expired token, on both platforms
    for shop in (shopify_shop, taobao_shop):
        await engine.sync_shop(await shop.row(app))
    fault(shopify_shop, kind="error", status=502, path_pattern="orders", skip=1)
    fault(taobao_shop, kind="error", api=r"trades\.sold", skip=1)
    for shop in (shopify_shop, taobao_shop):
        await engine.sync_shop(await shop.row(app))
    fault(shopify_shop, kind="auth_expired", count=1)
    fault(taobao_shop, kind="auth_expired", count=1)
    for shop in (shopify_shop, taobao_shop):
        await engine.sync_shop(await shop.row(app))
    # pushes carrying the buyer, accepted and forged
    url = f"/v1/push/shopify/{shopify_shop.id}"
    for secret in (SHOPIFY_SECRET, "forged"):
        body, headers = _webhook(shopify_sandbox, secret=secret)
        assert NAME_LAST.encode() in body
        await anon.post(url, content=body, headers=headers)

    rows = [r for r in await all_rows(app) if r.shop_id in (shopify_shop.id, taobao_shop.id)]
    assert {r.outcome for r in rows} >= {"ok", "unavailable", "auth_expired", "rejected"}
    assert {r.platform for r in rows} == {"shopify", "taobao"}
    for row in rows:
        text = dump(row)
        for marker in MARKERS:
            assert marker not in text, (marker, text)


async def test_a_platform_message_quoting_the_buyer_is_scrubbed(
    app: FastAPI, tenant: TenantClient
) -> None:
    """Platforms echo what they refuse: the name the sync saw, the phone and the e-mail go."""

    def handler(request: httpx.Request) -> httpx.Response:
        reason = f"phone {MOBILE} of {NAME_FIRST} {NAME_LAST} <{EMAIL}> is invalid " + "x" * 900
        return httpx.Response(422, json={"errors": {"shipping_address": [reason]}})

    shop_id = f"shop_{secrets.token_hex(6)}"
    context = ShopContext(
        shop_id=shop_id,
        platform_shop_id=SHOPIFY_DOMAIN,
        credentials={"access_token": "shpat_scrub_test_token"},
        settings={"base_url": "http://shopify.invalid"},
        base_url="http://shopify.invalid",
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    connector = connector_class("shopify")(
        context, client=client, observer=SYNC_LOG.observer(tenant.tenant_id, shop_id)
    )
    with collect_pii():
        Sensitive(NAME_FIRST), Sensitive(NAME_LAST)  # the order this sync mapped
        with pytest.raises(Rejected):
            await connector.get_order("1001")
    await client.aclose()

    [row] = [r for r in await all_rows(app) if r.shop_id == shop_id]
    assert row.outcome == "rejected" and row.code == "422" and row.http_status == 422
    assert row.message is not None and "[redacted]" in row.message
    assert len(row.message) <= 500
    for marker in (MOBILE, NAME_FIRST, NAME_LAST, EMAIL):
        assert marker not in dump(row)


async def test_an_http_timeout_is_logged_as_a_timeout(app: FastAPI, tenant: TenantClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    shop_id = f"shop_{secrets.token_hex(6)}"
    context = ShopContext(
        shop_id=shop_id,
        platform_shop_id=SHOPIFY_DOMAIN,
        credentials={"access_token": "shpat_timeout_test_token"},
        base_url="http://shopify.invalid",
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    connector = connector_class("shopify")(
        context, client=client, observer=SYNC_LOG.observer(tenant.tenant_id, shop_id)
    )
    with pytest.raises(Unavailable):
        await connector.get_order("1001")
    await client.aclose()
    [row] = await sync_log(app, tenant, shop_id=shop_id)
    assert row["interface"] == "orders/{id}.json"
    assert row["outcome"] == "timeout" and row["code"] == "timeout"
    assert "did not answer in time" in row["explanation"]


# -- buffer, outage, writer ----------------------------------------------------------------


def _record(log: SyncLog, tenant_id: str, shop_id: str, n: int, outcome: str = "ok") -> None:
    code = None if outcome == "ok" else "503"
    log.record_call(
        tenant_id,
        shop_id,
        CallRecord("shopify", f"call-{n}.json", 200, outcome, code, 0.001, "boom"),
    )


async def test_the_buffer_is_bounded_and_drops_the_oldest(tenant: TenantClient) -> None:
    log = SyncLog(capacity=3, batch_size=2)
    dropped = SYNC_LOG_DROPPED._value.get()
    for n in range(5):
        _record(log, tenant.tenant_id, "shop_x", n)
    assert len(log) == 3
    assert SYNC_LOG_DROPPED._value.get() - dropped == 2
    assert [e.interface for e in log._buffer] == ["call-2.json", "call-3.json", "call-4.json"]


@pytest.fixture
async def broken_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database without the schema: every write fails, as while the real one is down."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'down.db'}")
    yield db
    await db.dispose()


async def test_a_database_outage_keeps_the_records_and_they_arrive_later(
    app: FastAPI, tenant: TenantClient, broken_db: Database
) -> None:
    log = SyncLog(capacity=4, batch_size=2)
    shop_id = f"shop_{secrets.token_hex(6)}"
    for n in range(3):
        _record(log, tenant.tenant_id, shop_id, n, outcome="Unavailable")
    failures = SYNC_LOG_FLUSH_FAILURES._value.get()
    with pytest.raises(SQLAlchemyError):  # no such table: as good as a database that is down
        await log.flush(broken_db)
    assert SYNC_LOG_FLUSH_FAILURES._value.get() - failures == 1
    assert [e.interface for e in log._buffer] == ["call-0.json", "call-1.json", "call-2.json"]
    _record(log, tenant.tenant_id, shop_id, 3)
    _record(log, tenant.tenant_id, shop_id, 4)  # over capacity: the oldest goes
    assert log._buffer[0].interface == "call-1.json"

    assert await log.flush(app.state.db) == 4
    rows = await sync_log(app, tenant, shop_id=shop_id)
    assert [r["interface"] for r in rows] == [f"call-{n}.json" for n in (4, 3, 2, 1)]
    assert rows[-1]["outcome"] == "unavailable" and "server error" in rows[-1]["explanation"]


async def test_the_writer_flushes_in_the_background_and_at_the_end(
    app: FastAPI, tenant: TenantClient
) -> None:
    log = SyncLog()
    shop_id = f"shop_{secrets.token_hex(6)}"

    async def written() -> int:
        with unscoped():
            async with app.state.db.read() as session:
                rows = await session.scalars(
                    select(SyncLogRow).where(SyncLogRow.shop_id == shop_id)
                )
                return len(rows.all())

    async with log.writing(app.state.db, interval=0.05):
        async with log.writing(app.state.db, interval=0.05):  # nested: the same writer
            assert len(log._writers) == 1
        _record(log, tenant.tenant_id, shop_id, 1)
        for _ in range(100):
            if await written() == 1:
                break
            await asyncio.sleep(0.02)
        assert await written() == 1
        _record(log, tenant.tenant_id, shop_id, 2)
    assert await written() == 2, "the last records are flushed when the writer stops"
    assert log._writers == {}


def test_recording_costs_microseconds() -> None:
    """The hot-path cost of one call's record (success and failure). Generous bounds: this
    catches an accidental database write or a slow scrub, not noise on a shared machine."""
    log = SyncLog(capacity=100_000)
    ok = CallRecord("shopify", "orders.json", 200, "ok", None, 0.05)
    failed = CallRecord(
        "taobao", "taobao.trade.fullinfo.get", 200, "RateLimited", "7/accesscontrol.x", 0.05,
        "App Call Limited; accesscontrol.x; This ban will last for 1 more seconds",
    )  # fmt: skip

    def per_call(record: CallRecord, n: int = 2000) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for _ in range(n):
                log.record_call("ten_x", "shop_x", record)
            best = min(best, (time.perf_counter() - started) / n)
            log.clear()
        return best

    assert per_call(ok) < 100e-6
    assert per_call(failed) < 300e-6
