"""The outbox dispatcher over real sockets: signatures, masking, retries, dead letters,
410, Retry-After, timeouts, broken receivers, isolation between endpoints, per-order order."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.engine import make_url
from standardwebhooks.webhooks import Webhook

from shopbridge.delivery import dispatcher as dispatcher_module
from shopbridge.delivery.dispatcher import Dispatcher
from shopbridge.delivery.schedule import RetrySchedule
from shopbridge.storage.events import sequence_committed
from shopbridge.storage.tables import OutboxEventRow, WebhookAttemptRow, WebhookDeliveryRow
from tests.delivery.conftest import Receiver, Shop
from tests.factories import later, make_order

MakeDispatcher = Callable[..., Dispatcher]


async def run_until(
    dispatcher: Dispatcher, done: Callable[[], bool | Awaitable[bool]], timeout: float = 15
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await dispatcher.step()
        outcome = done()
        if outcome if isinstance(outcome, bool) else await outcome:
            await dispatcher.drain()
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def deliveries(shop: Shop, endpoint_id: str) -> list[WebhookDeliveryRow]:
    async with shop.db.read() as session:
        stmt = (
            select(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.endpoint_id == endpoint_id)
            .order_by(WebhookDeliveryRow.position)
        )
        return list((await session.scalars(stmt)).all())


async def test_delivers_signed_masked_event(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    endpoint = await shop.endpoint(receiver.url("a"))
    result = await shop.upsert(make_order("T1"))
    await dispatcher_for(shop).drain()
    [hit] = receiver.of("a")
    event = Webhook(endpoint["secret"]).verify(hit.body, hit.headers)
    assert event["type"] == "order.created"
    assert hit.headers["webhook-id"] == event["id"]
    assert hit.headers["content-type"] == "application/json"
    assert hit.headers["user-agent"].startswith("ShopBridge-Webhooks/")
    assert event["tenant_id"] == shop.tenant_id
    assert event["shop_id"] == shop.row.id
    assert event["data"]["order"]["id"] == result.order_id
    assert event["data"]["version"] == 1
    assert event["cursor"].isdigit()
    assert "欧阳娜娜" not in hit.body.decode()
    assert "13812345678" not in hit.body.decode()
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "succeeded"
    assert row.attempts == 1
    assert row.last_status_code == 200


async def test_pii_allowed_endpoint_gets_buyer_data(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    await shop.endpoint(receiver.url("masked"))
    await shop.endpoint(receiver.url("clear"), pii_allowed=True)
    await shop.upsert(make_order("T2"))
    await dispatcher_for(shop).drain()
    assert "13812345678" not in receiver.of("masked")[0].body.decode()
    assert "13812345678" in receiver.of("clear")[0].body.decode()


async def test_filters_by_event_type_and_shop(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    await shop.endpoint(receiver.url("created"), event_types=["order.created"])
    await shop.endpoint(receiver.url("changes"), event_types=["order.status_changed"])
    await shop.upsert(make_order("T3"))
    await shop.upsert(make_order("T3", status="shipped", platform_updated_at=later(5)))
    await dispatcher_for(shop).drain()
    assert [h.event["type"] for h in receiver.of("created")] == ["order.created"]
    assert [h.event["type"] for h in receiver.of("changes")] == ["order.status_changed"]
    assert receiver.of("changes")[0].event["data"]["previous_status"] == "awaiting_shipment"


async def test_retries_then_dead_letter_then_replay(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    endpoint = await shop.endpoint(receiver.url("flaky"))
    receiver.plans["flaky"] = lambda event, n: (500, {}, 0.0)
    await shop.upsert(make_order("T4"))
    dispatcher = dispatcher_for(shop)

    async def dead() -> bool:
        rows = await deliveries(shop, endpoint["id"])
        return bool(rows) and rows[0].state == "failed"

    await run_until(dispatcher, dead)
    assert len(receiver.of("flaky")) == 4  # first attempt + 3 retries of the schedule
    assert len({h.headers["webhook-id"] for h in receiver.of("flaky")}) == 1
    [row] = await deliveries(shop, endpoint["id"])
    assert row.last_status_code == 500
    assert row.last_error == "gave up after 4 attempts: answered HTTP 500"
    assert row.last_response == '{"ok":true}'
    dlq = await shop.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries?state=failed")
    assert [d["event_id"] for d in dlq.json()["data"]] == [row.event_id]
    assert dlq.json()["data"][0]["last_error"].startswith("gave up")
    async with shop.db.read() as session:
        attempts = (
            await session.scalars(
                select(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id == row.id)
            )
        ).all()
    assert [a.status_code for a in attempts] == [500] * 4

    receiver.plans.pop("flaky")
    resp = await shop.client.post(
        "/v1/events/replay", json={"endpoint_id": endpoint["id"], "state": "failed"}
    )
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"scheduled": 1}
    await dispatcher.drain()
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "succeeded"
    assert receiver.of("flaky")[-1].headers["webhook-id"] == row.event_id


async def test_gone_disables_endpoint_and_tells_the_tenant(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    endpoint = await shop.endpoint(receiver.url("gone"))
    receiver.plans["gone"] = lambda event, n: (410, {}, 0.0)
    await shop.upsert(make_order("T5"))
    await shop.upsert(make_order("T6"))
    await dispatcher_for(shop, max_in_flight=1).drain()
    got = (await shop.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert got["enabled"] is False
    assert "410" in got["disabled_reason"]
    assert got["deliveries"] == {"pending": 0, "succeeded": 0, "failed": 2}
    assert len(receiver.of("gone")) == 1  # the second one was not sent to a gone endpoint
    async with shop.db.read() as session:
        alert = (
            await session.scalars(
                select(OutboxEventRow).where(
                    OutboxEventRow.tenant_id == shop.tenant_id,
                    OutboxEventRow.type == "webhook.endpoint_disabled",
                )
            )
        ).one()
    assert alert.payload["endpoint_id"] == endpoint["id"]
    # Replaying to a disabled endpoint is refused with the reason; enabling lets it through.
    resp = await shop.client.post(
        "/v1/events/replay", json={"endpoint_id": endpoint["id"], "state": "failed"}
    )
    assert resp.status_code == 409
    assert "disabled" in resp.json()["detail"]


async def test_retry_after_is_honoured(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    endpoint = await shop.endpoint(receiver.url("busy"))
    receiver.plans["busy"] = lambda event, n: (503, {"Retry-After": "120"}, 0.0)
    await shop.upsert(make_order("T7"))
    await dispatcher_for(shop).drain()
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "pending"
    assert row.last_status_code == 503
    wait = row.next_attempt_at - row.last_attempt_at  # type: ignore[operator]
    assert timedelta(seconds=119) <= wait <= timedelta(seconds=121)


async def test_timeouts_are_bounded_and_do_not_block_other_endpoints(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    slow = await shop.endpoint(receiver.url("slow"))
    await shop.endpoint(receiver.url("fast"))
    receiver.plans["slow"] = lambda event, n: (200, {}, 6.0)
    for i in range(5):
        await shop.upsert(make_order(f"T8-{i}"))
    dispatcher = dispatcher_for(shop, timeout=3.0, schedule=RetrySchedule.parse("1h"))
    slow_state_when_fast_done: list[set[int]] = []

    async def fast_done() -> bool:
        if len(receiver.of("fast")) < 5:
            return False
        rows = await deliveries(shop, slow["id"])
        slow_state_when_fast_done.append({r.attempts for r in rows})
        return True

    await run_until(dispatcher, fast_done)
    # The fast endpoint got everything while the slow one's first attempts were still open.
    assert slow_state_when_fast_done == [{0}]
    rows = await deliveries(shop, slow["id"])
    assert {r.last_error for r in rows} == {"no answer within 3 s"}
    assert {r.state for r in rows} == {"pending"}


async def _raw_server(reply: bytes | None) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        if reply:
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (None, "the connection was closed before an answer"),
        (b"garbage that is not HTTP\r\n\r\n", "the answer is not valid HTTP"),
    ],
)
async def test_broken_receivers_are_retried_with_a_reason(
    shop: Shop, dispatcher_for: MakeDispatcher, reply: bytes | None, reason: str
) -> None:
    server, url = await _raw_server(reply)
    try:
        endpoint = await shop.endpoint(url)
        await shop.upsert(make_order("T9"))
        await dispatcher_for(shop, schedule=RetrySchedule.parse("1h")).drain()
    finally:
        server.close()
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "pending"
    assert row.attempts == 1
    assert row.last_status_code is None
    assert reason in (row.last_error or "")


async def test_connection_refused_is_retried(shop: Shop, dispatcher_for: MakeDispatcher) -> None:
    server, url = await _raw_server(None)
    server.close()
    await server.wait_closed()
    endpoint = await shop.endpoint(url)
    await shop.upsert(make_order("T10"))
    await dispatcher_for(shop, schedule=RetrySchedule.parse("1h")).drain()
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "pending"
    assert (row.last_error or "").startswith("cannot connect")


async def test_endpoint_failing_too_long_is_disabled(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    endpoint = await shop.endpoint(receiver.url("down"))
    receiver.plans["down"] = lambda event, n: (502, {}, 0.0)
    await shop.upsert(make_order("T11"))
    dispatcher = dispatcher_for(shop, disable_after=timedelta(seconds=0.08))

    async def disabled() -> bool:
        got = (await shop.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
        return got["enabled"] is False

    await run_until(dispatcher, disabled)
    got = (await shop.client.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()
    assert got["disabled_reason"].startswith("failing for more than")
    assert "HTTP 502" in got["disabled_reason"]


async def test_per_order_order_under_parallel_delivery(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    """Random delays and failures; many orders with several versions each: every order's
    events arrive in version order, and all arrive."""
    rng = random.Random(7)
    await shop.endpoint(receiver.url("erp"))

    def plan(event: dict[str, Any], n: int) -> tuple[int, dict[str, str], float]:
        delay = rng.uniform(0, 0.03)
        return (500, {}, delay) if n == 1 and rng.random() < 0.2 else (200, {}, delay)

    receiver.plans["erp"] = plan
    statuses = ["pending_payment", "awaiting_shipment", "shipped", "delivered"]
    for step, status in enumerate(statuses):
        for i in range(15):
            await shop.upsert(
                make_order(f"P{i}", status=status, platform_updated_at=later(step + 1))
            )
    dispatcher = dispatcher_for(shop, schedule=RetrySchedule.parse("0.02s,0.02s,0.02s,0.02s"))

    def all_acknowledged() -> bool:
        return len({h.event["id"] for h in receiver.of("erp") if h.status == 200}) == 60

    await run_until(dispatcher, all_acknowledged)
    versions: dict[str, list[int]] = {}
    for hit in receiver.of("erp"):
        event = hit.event
        versions.setdefault(event["data"]["order"]["id"], []).append(event["data"]["version"])
    assert len(versions) == 15
    for seen in versions.values():
        assert seen == sorted(seen), seen
        assert set(seen) == {1, 2, 3, 4}


async def test_an_idle_poll_never_waits_for_the_writer(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    """Polling for work only reads: on SQLite, another process holding the write lock (a
    `shopbridge worker` writing a sync page) must not stall an idle dispatcher's loop."""
    if shop.db.dialect != "sqlite":
        pytest.skip("SQLite's single writer lock")
    await shop.endpoint(receiver.url("idle"))
    dispatcher = dispatcher_for(shop)
    await sequence_committed(shop.db)  # whatever other tests left unsequenced
    await dispatcher.drain()
    database = make_url(shop.db.url).database
    assert database is not None
    other_process = sqlite3.connect(database, isolation_level=None)
    try:
        other_process.execute("BEGIN IMMEDIATE")  # the writer lock, held elsewhere
        progressed = await asyncio.wait_for(dispatcher.step(poll=True), timeout=3)
        assert progressed is False
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()
    # With work to do, the same poll writes: the order's event is sequenced and delivered.
    await shop.upsert(make_order("IDLE-1"))
    await run_until(dispatcher, lambda: len(receiver.of("idle")) == 1)


async def test_attempts_are_counted_only_when_their_record_commits(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy round records, sequences and claims in one transaction; when it fails, the
    recorded attempts roll back with it (the deliveries are sent again once their leases
    lapse) and must not have been counted in `shopbridge_webhook_attempts_total`."""

    def succeeded() -> float:
        value = REGISTRY.get_sample_value(
            "shopbridge_webhook_attempts_total", {"outcome": "succeeded"}
        )
        return value or 0.0

    endpoint = await shop.endpoint(receiver.url("rollback"))
    dispatcher = dispatcher_for(shop)
    await sequence_committed(shop.db)  # whatever other tests left unsequenced
    await dispatcher.drain()
    await shop.upsert(make_order("RB-1"))
    before = succeeded()
    await dispatcher.step(poll=True)  # sequences and claims the event, starts sending
    deadline = time.monotonic() + 10
    while not dispatcher._done and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(receiver.of("rollback")) == 1

    async def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the sequencer failed")

    monkeypatch.setattr(dispatcher_module, "sequence_pending", failing)
    with pytest.raises(RuntimeError, match="sequencer failed"):
        await dispatcher.step(poll=True)  # records the attempt, then fails: all rolled back
    assert succeeded() == before
    [row] = await deliveries(shop, endpoint["id"])
    assert row.state == "pending" and row.attempts == 0
