"""Unit tests of the sandbox building blocks (no server)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from shopbridge.sandbox.common import (
    DeliveryState,
    DeterministicRandom,
    FaultInjector,
    FaultKind,
    LeakyBucket,
    PushDispatcher,
    PushRequest,
    RetryPolicy,
    SystemClock,
)
from shopbridge.sandbox.shopify import ShopifySandboxOptions
from shopbridge.sandbox.shopify.app import ShopifySandbox
from shopbridge.sandbox.shopify.signing import oauth_hmac, verify_webhook_hmac, webhook_hmac
from shopbridge.sandbox.shopify.state import InvalidError, RefundLineRequest
from shopbridge.sandbox.shopify.versions import latest_stable, resolve_version, served_versions

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("2024-01", "2024-01"),
        ("2026-10", "2026-10"),
        ("2027-01", "2027-01"),
        ("2027-04", None),
        ("2023-07", "2024-01"),
        ("2019-04", "2024-01"),
        ("2024-02", None),
        ("2024-13", None),
        ("unstable", "unstable"),
        ("latest", None),
    ],
)
def test_resolve_version(requested: str, served: str | None) -> None:
    assert resolve_version(requested, NOW, "2024-01") == served


def test_latest_stable_switches_at_17_utc() -> None:
    assert latest_stable(datetime(2026, 10, 1, 16, 59, tzinfo=UTC)).name == "2026-07"
    assert latest_stable(datetime(2026, 10, 1, 17, 0, tzinfo=UTC)).name == "2026-10"
    assert latest_stable(datetime(2027, 1, 1, 9, 0, tzinfo=UTC)).name == "2026-10"
    versions = served_versions(NOW, "2024-01")
    assert versions[0] == "2024-01" and versions[-2:] == ["2027-01", "unstable"]
    assert len(versions) == 14


def test_leaky_bucket() -> None:
    now = [0.0]
    bucket = LeakyBucket(40, 2.0, monotonic=lambda: now[0])
    decisions = [bucket.acquire() for _ in range(40)]
    assert [d.used for d in decisions[:3]] == [1, 2, 3]
    assert all(d.allowed for d in decisions)
    refused = bucket.acquire()
    assert not refused.allowed and refused.used == 40
    now[0] = 0.5  # one request leaked out
    assert bucket.acquire().allowed
    assert not bucket.acquire().allowed
    now[0] = 20.5
    assert bucket.used() == 0


def test_fault_injector() -> None:
    faults = FaultInjector()
    rule = faults.add(FaultKind.ERROR, count=2, path_pattern=r"/orders", method="get", status=503)
    assert faults.take("POST", "/admin/api/2026-10/orders.json") is None
    assert faults.take("GET", "/admin/api/2026-10/shop.json") is None
    assert faults.take("GET", "/admin/api/2026-10/orders.json") is rule
    assert faults.take("GET", "/admin/api/2026-10/orders/1.json") is rule
    assert faults.take("GET", "/admin/api/2026-10/orders.json") is None
    forever = faults.add(FaultKind.HANG, count=None, seconds=1)
    assert all(faults.take("GET", "/x") is forever for _ in range(5))
    assert faults.remove(forever.id) and not faults.rules()
    with pytest.raises(ValueError, match="path_pattern"):
        faults.add(FaultKind.ERROR, path_pattern="(")


def test_deterministic_random_streams_are_independent() -> None:
    a = DeterministicRandom(5)
    b = DeterministicRandom(5)
    assert [a.child("x").randint(0, 10**9) for _ in range(3)] == [
        b.child("x").randint(0, 10**9) for _ in range(3)
    ]
    one = DeterministicRandom(5).child("ids")
    two = DeterministicRandom(5)
    two.child("buyers").randint(0, 100)  # drawing elsewhere does not shift "ids"
    assert one.randint(0, 10**9) == two.child("ids").randint(0, 10**9)
    assert DeterministicRandom(5).money(Decimal("1"), Decimal("2")).as_tuple().exponent == -2


def test_signing_vectors() -> None:
    body = b'{"id":820982911946154508,"email":"jon@example.com","total_price":"10.00"}'
    assert webhook_hmac(body, "hush") == "m4FFod+h41Veq3iGu9IYC4BB/jVI4MOrGLOk7hjAbKU="
    assert verify_webhook_hmac(body, "m4FFod+h41Veq3iGu9IYC4BB/jVI4MOrGLOk7hjAbKU=", "hush")
    assert not verify_webhook_hmac(
        body + b" ", "m4FFod+h41Veq3iGu9IYC4BB/jVI4MOrGLOk7hjAbKU=", "hush"
    )
    params = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "shop": "some-shop.myshopify.com",
        "state": "0.6784241404160823",
        "timestamp": "1337178173",
        "hmac": "ignored",
    }
    assert (
        oauth_hmac(params, "hush")
        == "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf"
    )


def test_options_validation() -> None:
    with pytest.raises(ValidationError):
        ShopifySandboxOptions(push_url="ftp://example.com")
    with pytest.raises(ValidationError):
        ShopifySandboxOptions(start_time=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValidationError):
        ShopifySandboxOptions(timezone="Mars/Olympus")
    with pytest.raises(ValidationError):
        ShopifySandboxOptions(oldest_api_version="2024-02")
    options = ShopifySandboxOptions(scopes=("write_orders",))
    assert options.granted_scopes() == {"write_orders", "read_orders"}


def test_pinned_start_time_makes_seeding_reproducible() -> None:
    start = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    first = ShopifySandbox(ShopifySandboxOptions(seed=15, start_time=start)).state
    second = ShopifySandbox(ShopifySandboxOptions(seed=15, start_time=start)).state
    assert [
        (o.id, o.created_at, o.updated_at, o.totals().total_price) for o in first.orders.values()
    ] == [
        (o.id, o.created_at, o.updated_at, o.totals().total_price) for o in second.orders.values()
    ]
    assert max(o.created_at for o in first.orders.values()) <= start


@pytest.mark.parametrize("currency", ["USD", "CNY"])
def test_seeded_orders_are_consistent(currency: str) -> None:
    state = ShopifySandbox(ShopifySandboxOptions(seed=250, currency=currency, random_seed=3)).state
    financial = {o.financial_status for o in state.orders.values()}
    assert {"paid", "refunded", "partially_refunded"} <= financial
    assert {o.fulfillment_status for o in state.orders.values()} >= {
        None,
        "partial",
        "fulfilled",
        "restocked",
    }
    ids = [o.id for o in state.orders.values()]
    assert ids == sorted(ids) and all(i < 2**53 for i in ids)
    for order in state.orders.values():
        totals = order.totals()
        tax = Decimal(0) if order.taxes_included else totals.total_tax
        assert totals.total_price == (
            totals.subtotal_price + totals.shipping_price - totals.shipping_discounts + tax
        )
        assert totals.current_total_price <= totals.total_price
        assert totals.refunded <= totals.captured
        assert order.updated_at >= order.created_at
        for line in order.line_items:
            assert 0 <= order.fulfillable_quantity(line.id) <= line.quantity
        if order.cancelled_at is None:
            fo_remaining = sum(
                fl.fulfillable_quantity
                for fo in state.fulfillment_orders_of(order)
                for fl in fo.lines
            )
            assert fo_remaining == sum(
                order.fulfillable_quantity(line.id) for line in order.line_items
            )
        if order.cancelled_at is not None:
            assert totals.current_total_price == 0
            assert order.financial_status in ("refunded", "voided")


def test_refund_math_and_rules() -> None:
    sandbox = ShopifySandbox(ShopifySandboxOptions(seed=0))
    state = sandbox.state
    order = sandbox.stream.new_order("paid")
    line = order.line_items[0]
    before = order.totals()
    refund = state.refund(order.id, [RefundLineRequest(line.id, 1, "return")])
    unit_net = (line.gross - line.discount) / line.quantity
    expected = refund.refund_line_items[0].subtotal + refund.refund_line_items[0].total_tax
    assert refund.refund_line_items[0].subtotal == unit_net.quantize(Decimal("0.01"))
    assert refund.transactions[0].amount == expected
    after = order.totals()
    assert after.current_total_price == before.current_total_price - expected
    assert order.financial_status in ("partially_refunded", "refunded")
    with pytest.raises(InvalidError):
        state.refund(order.id, [RefundLineRequest(line.id, line.quantity + 1)])
    with pytest.raises(InvalidError):
        state.cancel_order(order.id, reason="bored")


async def test_push_dispatcher_retries_against_a_real_receiver() -> None:
    calls: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(request.headers["x-id"])
        return web.Response(status=500 if len(calls) == 1 else 204)

    app = web.Application()
    app.router.add_post("/x", handler)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    url = str(receiver.make_url("/x"))
    dispatcher = PushDispatcher(
        RetryPolicy(timeout=1, max_attempts=3, backoff_base=0.01), clock=SystemClock()
    )
    await dispatcher.start()
    try:
        dispatcher.duplicate_next(1)
        record = dispatcher.submit(
            PushRequest(url, b"{}", {"x-id": "a"}, "t", "delivery-a", "event-a")
        )
        assert await dispatcher.wait_idle(within=5)
        records = dispatcher.records()
        assert len(records) == 2 and records[1].duplicate_of == record.id
        assert all(r.state == DeliveryState.DELIVERED for r in records)
        assert sum(len(r.attempts) for r in records) == 3
        dispatcher.reorder_next(5)  # only 1 arrives: released by the flush timer
        dispatcher.submit(PushRequest(url, b"{}", {"x-id": "b"}, "t", "d-b", "e-b"))
        await asyncio.sleep(0)
        assert dispatcher.chaos()["held"] == 1
    finally:
        await dispatcher.stop()
        await receiver.close()
    assert RetryPolicy(backoff_base=1, backoff_max=5).delay_after(4) == 5
