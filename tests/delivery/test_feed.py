"""The event feed: commit-ordered cursor, pagination, filters, long-poll, retention, masking,
tenant isolation; and replay by event and by shop since a time."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from shopbridge.core.time import utcnow
from shopbridge.storage.db import Database
from shopbridge.storage.events import prune_events, read_feed, sequence_committed
from shopbridge.storage.outbox import append_event
from shopbridge.storage.tables import WebhookDeliveryRow
from tests.delivery.conftest import Receiver, Shop
from tests.delivery.test_dispatcher import MakeDispatcher, deliveries
from tests.factories import later, make_order


async def feed(owner: Shop, **params: Any) -> dict[str, Any]:
    resp = await owner.client.get("/v1/events", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_pages_follow_the_cursor_without_gaps(shop: Shop) -> None:
    for i in range(7):
        await shop.upsert(make_order(f"F{i}"))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["after"] = cursor
        page = await feed(shop, **params)
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == 7
    positions = [int(e["cursor"]) for e in (await feed(shop, limit=100))["data"]]
    assert positions == sorted(positions)
    # Nothing new: the cursor stays where it is and the page is empty.
    empty = await feed(shop, after=cursor)
    assert empty == {"data": [], "next_cursor": cursor, "has_more": False}


async def test_filters_and_masking(shop: Shop) -> None:
    await shop.upsert(make_order("G1"))
    await shop.upsert(make_order("G1", status="shipped", platform_updated_at=later(3)))
    page = await feed(shop, types="order.status_changed")
    [event] = page["data"]
    assert event["type"] == "order.status_changed"
    assert event["data"]["previous_status"] == "awaiting_shipment"
    assert event["data"]["version"] == 2
    assert "13812345678" in str(event)  # the tenant's first key holds pii:read
    reader = (
        await shop.client.post("/v1/api-keys", json={"name": "erp", "scopes": ["events:read"]})
    ).json()["key"]
    masked = await shop.client.get(
        "/v1/events",
        params={"types": "order.status_changed"},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert masked.json()["data"][0]["id"] == event["id"]
    assert "13812345678" not in masked.text
    assert "欧阳娜娜" not in masked.text
    # The cursor moved past the filtered-out event: nothing is rescanned.
    assert int(page["next_cursor"]) >= int(event["cursor"])
    assert (await feed(shop, shop="shop_other"))["data"] == []
    one = await shop.client.get(f"/v1/events/{event['id']}")
    assert one.json() == event


async def test_long_poll_returns_when_an_event_arrives(shop: Shop) -> None:
    start = (await feed(shop))["next_cursor"]

    async def later_order() -> None:
        await asyncio.sleep(0.5)
        await shop.upsert(make_order("H1"))

    writer = asyncio.create_task(later_order())
    began = time.monotonic()
    page = await feed(shop, after=start, wait=10)
    elapsed = time.monotonic() - began
    await writer
    assert [e["type"] for e in page["data"]] == ["order.created"]
    assert 0.4 < elapsed < 5
    began = time.monotonic()
    quiet = await feed(shop, after=page["next_cursor"], wait=1)
    assert quiet["data"] == []
    assert 0.9 < time.monotonic() - began < 3


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"after": "abc"}, 400, "invalid-cursor"),
        ({"after": "999999999999"}, 400, "invalid-cursor"),
        ({"types": "order.exploded"}, 422, "validation-error"),
        ({"wait": 61}, 422, "validation-error"),
        ({"limit": 0}, 422, "validation-error"),
    ],
)
async def test_bad_feed_parameters(
    shop: Shop, params: dict[str, Any], status: int, slug: str
) -> None:
    resp = await shop.client.get("/v1/events", params=params)
    assert resp.status_code == status, resp.text
    assert resp.json()["type"] == f"urn:shopbridge:problem:{slug}"


async def test_cursor_older_than_retention_is_refused_clearly(shop: Shop) -> None:
    await shop.upsert(make_order("R1"))
    old_cursor = "0"
    page = await feed(shop)
    assert page["data"]
    async with shop.db.transaction() as session:
        # Pruning stops at the oldest pending delivery of any tenant; earlier tests in this
        # shared database leave some behind, so settle them first.
        await session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.state == "pending")
            .values(state="failed")
        )
        removed = await prune_events(session, older_than=utcnow() + timedelta(seconds=1))
    assert removed >= 1
    resp = await shop.client.get("/v1/events", params={"after": old_cursor})
    assert resp.status_code == 410
    problem = resp.json()
    assert problem["type"] == "urn:shopbridge:problem:cursor-expired"
    assert "updated_after" in problem["detail"]
    # A reader that kept up is not affected; starting without a cursor works too.
    assert (await feed(shop, after=page["next_cursor"]))["data"] == []
    assert (await feed(shop))["data"] == []


async def test_pruning_keeps_events_with_pending_deliveries(shop: Shop, receiver: Receiver) -> None:
    await shop.endpoint(receiver.url("never"))
    await shop.upsert(make_order("R2"))
    await sequence_committed(shop.db)
    async with shop.db.transaction() as session:
        await prune_events(session, older_than=utcnow() + timedelta(seconds=1))
    got = await shop.client.get("/v1/events", params={"types": "order.created"})
    assert got.status_code == 200
    assert [e["data"]["order"]["platform_order_id"] for e in got.json()["data"]] == ["R2"]


async def test_feed_is_tenant_scoped(shop: Shop, admin: Any) -> None:
    await shop.upsert(make_order("I1"))
    event = (await feed(shop))["data"][0]
    assert (await admin.get(f"/v1/events/{event['id']}")).status_code == 404
    assert event["id"] not in (await admin.get("/v1/events", params={"limit": 1000})).text
    replay = await admin.post("/v1/events/replay", json={"event_id": event["id"]})
    assert replay.status_code == 404


async def test_replay_unknown_event_is_404(shop: Shop) -> None:
    resp = await shop.client.post("/v1/events/replay", json={"event_id": "evt_nope"})
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"event_id": "evt_x", "shop_id": "shop_x", "since": "2026-11-11T00:00:00+08:00"},
        {"state": "failed"},
        {"shop_id": "shop_x"},
        {"shop_id": "shop_x", "since": "2026-11-11T00:00:00"},
        {"shop_id": "shop_x", "since": "2026-11-11T00:00:00Z", "until": "2026-11-10T00:00:00Z"},
    ],
)
async def test_replay_body_must_name_one_mode(shop: Shop, body: dict[str, Any]) -> None:
    resp = await shop.client.post("/v1/events/replay", json=body)
    assert resp.status_code == 422, resp.text


async def test_replay_one_event_and_a_shop_since(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    await shop.upsert(make_order("J1"))
    await shop.upsert(make_order("J2"))
    await sequence_committed(shop.db)
    # The endpoint is created after the events: replay reaches it anyway.
    endpoint = await shop.endpoint(receiver.url("late"))
    events = (await feed(shop))["data"]
    dispatcher = dispatcher_for(shop)
    resp = await shop.client.post(
        "/v1/events/replay", json={"event_id": events[0]["id"], "endpoint_id": endpoint["id"]}
    )
    assert resp.json() == {"scheduled": 1}
    await dispatcher.drain()
    assert [h.event["id"] for h in receiver.of("late")] == [events[0]["id"]]
    since = (utcnow() - timedelta(hours=1)).isoformat()
    resp = await shop.client.post(
        "/v1/events/replay", json={"shop_id": shop.row.id, "since": since}
    )
    assert resp.json() == {"scheduled": 2}
    await dispatcher.drain()
    ids = [h.event["id"] for h in receiver.of("late")]
    assert sorted(ids[1:]) == sorted(e["id"] for e in events)
    rows = await deliveries(shop, endpoint["id"])
    assert {r.state for r in rows} == {"succeeded"}


@pytest.mark.skipif(
    not os.environ.get("SHOPBRIDGE_TEST_DATABASE_URL"),
    reason="needs concurrent writers (PostgreSQL); SQLite has one writer at a time",
)
async def test_late_commit_is_not_skipped_by_a_reader(shop: Shop, app: Any) -> None:
    """Transaction A inserts first (lower seq) but commits after B. A reader that already
    moved past B must still get A: positions follow commit order, not insert order."""
    db: Database = app.state.db
    tenant = shop.tenant_id
    a_open = asyncio.Event()
    release_a = asyncio.Event()

    async def transaction_a() -> None:
        async with db.transaction() as session:
            await append_event(session, tenant_id=tenant, type="order.updated", payload={"n": "A"})
            a_open.set()
            await release_a.wait()

    task = asyncio.create_task(transaction_a())
    await a_open.wait()
    async with db.transaction() as session:
        await append_event(session, tenant_id=tenant, type="order.updated", payload={"n": "B"})
    await sequence_committed(db)
    async with db.read() as session:
        first = await read_feed(session, tenant, after=None, limit=100)
    assert [e.payload["n"] for e in first.events] == ["B"]
    release_a.set()
    await task
    await sequence_committed(db)
    async with db.read() as session:
        second = await read_feed(session, tenant, after=first.next_cursor, limit=100)
    assert [e.payload["n"] for e in second.events] == ["A"]
