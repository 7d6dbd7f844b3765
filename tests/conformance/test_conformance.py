"""The contract every connector keeps against its platform's sandbox.

Run for each platform in `HARNESSES`; a platform is supported only when all of it passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from shopbridge.connectors import (
    AuthExpired,
    Capability,
    Connector,
    Listing,
    MappingError,
    NotFound,
    OrderPage,
    PullWindow,
    PushRejected,
    Rejected,
    ShipmentLineRequest,
    ShipmentRequest,
    StockUpdate,
    Unavailable,
)
from shopbridge.connectors.transport import CallRecord
from shopbridge.core import Order, OrderStatus, RefundStatus
from tests.conformance.harness import PlatformHarness


def _window(minutes_back: int = 60) -> PullWindow:
    now = datetime.now(UTC)
    return PullWindow(start=now - timedelta(minutes=minutes_back), end=now + timedelta(minutes=1))


async def pull_all(connector: Connector, window: PullWindow) -> tuple[list[Order], int]:
    """Every order of a window, following pages; returns the orders and the page count."""
    orders: list[Order] = []
    pages = 0
    page: str | None = None
    while True:
        result: OrderPage = await connector.pull_orders(window, page)
        pages += 1
        assert not result.unmapped, result.unmapped
        orders += result.orders
        if result.next_page is None:
            return orders, pages
        page = result.next_page


async def pull_all_listings(connector: Connector) -> tuple[list[Listing], int]:
    """Every listing of the shop, following pages; returns the listings and the page count."""
    listings: list[Listing] = []
    pages = 0
    page: str | None = None
    while True:
        result = await connector.pull_listings(page)
        pages += 1
        listings += result.listings
        if result.next_page is None:
            return listings, pages
        assert pages < 1000, "pull_listings never ends"
        page = result.next_page


def _needs(connector: Connector, *capabilities: Capability) -> None:
    missing = [c.value for c in capabilities if c not in connector.info.capabilities]
    if missing:
        pytest.skip(f"platform does not declare {', '.join(missing)}")


SEEDED = "CONF-"
"""Prefix of the merchant SKU codes the cases seed (each is on exactly one unit)."""


def _by_sku(listings: list[Listing]) -> dict[str, Listing]:
    """Listings by merchant SKU code (a shop may reuse a code; the seeded ones are unique)."""
    found: dict[str, Listing] = {}
    for listing in listings:
        code = listing.merchant_sku
        if code is None:
            continue
        assert not (code.startswith(SEEDED) and code in found), f"{code} listed twice"
        found.setdefault(code, listing)
    return found


def _update(listing: Listing, quantity: int) -> StockUpdate:
    return StockUpdate(listing.platform_listing_id, listing.platform_sku_id, quantity)


def test_declares_what_it_does(connector: Connector) -> None:
    info = connector.info
    assert info.platform
    assert {Capability.ORDERS_PULL, Capability.ORDERS_GET} <= info.capabilities
    assert info.rate_limit.rate > 0
    assert info.streams and info.streams[0].overlap > timedelta(0)


async def test_incremental_window_over_several_pages(
    connector: Connector, harness: PlatformHarness
) -> None:
    created = await harness.create_orders(8)
    orders, pages = await pull_all(connector, _window())
    ids = [o.platform_order_id for o in orders]
    assert sorted(ids) == sorted(created)
    assert len(ids) == len(set(ids)), "an order appeared twice"
    assert pages >= 3


async def test_adjacent_windows_split_without_duplicates(
    connector: Connector, harness: PlatformHarness
) -> None:
    first = await harness.create_orders(4)
    await asyncio.sleep(1.1)  # platforms keep update times to the second
    middle = datetime.now(UTC).replace(microsecond=0)
    await asyncio.sleep(1.1)
    second = await harness.create_orders(4)
    window = _window()
    before, _ = await pull_all(connector, PullWindow(window.start, middle))
    after, _ = await pull_all(connector, PullWindow(middle, window.end))
    assert sorted(o.platform_order_id for o in before) == sorted(first)
    assert sorted(o.platform_order_id for o in after) == sorted(second)


async def test_order_changed_during_a_pull_is_not_missed(
    connector: Connector, harness: PlatformHarness
) -> None:
    created = await harness.create_orders(7)
    window = _window()
    first_page = await connector.pull_orders(window, None)
    assert first_page.next_page is not None
    changed = first_page.orders[0].platform_order_id
    await harness.change_order(changed)
    rest: list[Order] = []
    page = first_page.next_page
    while page is not None:
        result = await connector.pull_orders(window, page)
        rest += result.orders
        page = result.next_page
    seen = {o.platform_order_id for o in first_page.orders + rest}
    # The window as pulled may or may not include the change; the next window (starting at
    # the high-water mark minus the declared overlap) must show it in its new state.
    high_water = max(
        o.platform_updated_at for o in first_page.orders + rest if o.platform_updated_at
    )
    overlap = connector.info.streams[0].overlap
    later, _ = await pull_all(
        connector, PullWindow(high_water - overlap, datetime.now(UTC) + timedelta(minutes=1))
    )
    assert set(created) <= seen | {o.platform_order_id for o in later}
    updated = next(o for o in later if o.platform_order_id == changed)
    assert updated.status in {
        OrderStatus.SHIPPED,
        OrderStatus.PARTIALLY_SHIPPED,
        OrderStatus.COMPLETED,
    }


async def test_every_native_status_maps(connector: Connector, harness: PlatformHarness) -> None:
    ids = await harness.orders_in_every_state()
    orders = [await connector.get_order(i) for i in ids]
    unknown = [
        (o.platform_order_id, o.native_status) for o in orders if o.status == OrderStatus.UNKNOWN
    ]
    assert not unknown
    assert all(o.native_status for o in orders), (
        "the native status must be kept next to the unified one"
    )
    assert len({o.status for o in orders}) >= 5


async def test_cancel_and_refund_states(connector: Connector, harness: PlatformHarness) -> None:
    cancelled = await harness.create_cancellable_order()
    [refunded] = await harness.create_orders(1)
    await harness.cancel(cancelled)
    await harness.refund(refunded)
    assert (await connector.get_order(cancelled)).status == OrderStatus.CANCELLED
    assert (await connector.get_order(refunded)).refund_status in {
        RefundStatus.REFUNDED,
        RefundStatus.PARTIALLY_REFUNDED,
    }


async def test_money_and_time_exact(connector: Connector, harness: PlatformHarness) -> None:
    for platform_order_id in await harness.create_orders(3):
        facts = await harness.native_facts(platform_order_id)
        order = await connector.get_order(platform_order_id)
        assert order.total.amount == facts.total
        assert order.total.currency == facts.currency
        assert order.platform_updated_at == facts.updated_at
        assert (
            order.platform_updated_at is not None and order.platform_updated_at.tzinfo is not None
        )
        assert len(order.lines) == facts.line_count
        assert order.raw, "the untouched payload is kept"


async def test_get_one_order_and_not_found(connector: Connector, harness: PlatformHarness) -> None:
    [platform_order_id] = await harness.create_orders(1)
    order = await connector.get_order(platform_order_id)
    assert order.platform_order_id == platform_order_id
    assert order.shop_id == harness.shop_context().shop_id
    with pytest.raises(NotFound):
        await connector.get_order("999999999999")


async def test_confirm_shipment_is_visible_on_the_platform(
    connector: Connector, harness: PlatformHarness
) -> None:
    if Capability.SHIPMENT_CONFIRM not in connector.info.capabilities:
        pytest.skip("platform does not confirm shipments")
    [platform_order_id] = await harness.create_orders(1)
    tracking = harness.tracking_number
    await connector.confirm_shipment(
        platform_order_id, ShipmentRequest(carrier_code="SF", tracking_number=tracking)
    )
    assert tracking in await harness.shipments(platform_order_id)
    assert await harness.shipment_state(platform_order_id) == "shipped"
    assert (await connector.get_order(platform_order_id)).status in {
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
    }


async def test_partial_shipment_leaves_the_order_partially_shipped(
    connector: Connector, harness: PlatformHarness
) -> None:
    _needs(connector, Capability.SHIPMENT_CONFIRM)
    platform_order_id = await harness.paid_order(line_count=2)
    order = await connector.get_order(platform_order_id)
    assert len(order.lines) == 2
    first = order.lines[0]
    await connector.confirm_shipment(
        platform_order_id,
        ShipmentRequest(
            carrier_code="SF",
            tracking_number=harness.tracking_number,
            lines=(ShipmentLineRequest(line_id=str(first.native_id), quantity=first.quantity),),
        ),
    )
    assert harness.tracking_number in await harness.shipments(platform_order_id)
    assert await harness.shipment_state(platform_order_id) == "partial"
    shipped = await connector.get_order(platform_order_id)
    assert shipped.status == OrderStatus.PARTIALLY_SHIPPED
    [shipment] = [s for s in shipped.shipments if s.tracking_number == harness.tracking_number]
    assert [str(line.line_id) for line in shipment.lines] == [str(first.native_id)]


async def test_shipping_an_order_twice_is_rejected_with_the_reason(
    connector: Connector, harness: PlatformHarness
) -> None:
    _needs(connector, Capability.SHIPMENT_CONFIRM)
    platform_order_id = await harness.paid_order()
    request = ShipmentRequest(carrier_code="SF", tracking_number=harness.tracking_number)
    await connector.confirm_shipment(platform_order_id, request)
    with pytest.raises(Rejected) as caught:
        await connector.confirm_shipment(platform_order_id, request)
    refusal = caught.value
    assert refusal.platform == connector.info.platform
    assert refusal.code and refusal.reason and refusal.message
    assert await harness.shipments(platform_order_id) == [harness.tracking_number]
    assert await harness.shipment_state(platform_order_id) == "shipped"


async def test_shipping_a_cancelled_order_is_rejected_with_the_reason(
    connector: Connector, harness: PlatformHarness
) -> None:
    _needs(connector, Capability.SHIPMENT_CONFIRM)
    platform_order_id = await harness.create_cancellable_order()
    await harness.cancel(platform_order_id)
    with pytest.raises(Rejected) as caught:
        await connector.confirm_shipment(
            platform_order_id,
            ShipmentRequest(carrier_code="SF", tracking_number=harness.tracking_number),
        )
    refusal = caught.value
    assert refusal.platform == connector.info.platform
    assert refusal.code and refusal.reason and refusal.message
    assert await harness.shipments(platform_order_id) == []


async def test_unknown_carrier_is_refused_before_any_call(
    connector: Connector, harness: PlatformHarness, calls: list[CallRecord]
) -> None:
    _needs(connector, Capability.SHIPMENT_CONFIRM)
    platform_order_id = await harness.paid_order()
    for carrier in ("NO_SUCH_CARRIER", harness.unsupported_carrier):
        with pytest.raises(Rejected) as caught:
            await connector.confirm_shipment(
                platform_order_id,
                ShipmentRequest(carrier_code=carrier, tracking_number=harness.tracking_number),
            )
        assert carrier in caught.value.reason, caught.value.reason
        assert caught.value.platform == connector.info.platform
    assert calls == [], "nothing may be sent for a carrier the platform does not take"
    assert await harness.shipment_state(platform_order_id) == "unshipped"


async def test_stock_update_is_visible_on_the_platform(
    connector: Connector, harness: PlatformHarness
) -> None:
    if Capability.STOCK_UPDATE not in connector.info.capabilities:
        pytest.skip("platform does not take stock updates")
    update = await harness.stock_update()
    [result] = await connector.update_stock([update])
    assert result.ok, result.error
    assert await harness.stock_set(update) == update.quantity
    bigger = dataclasses.replace(update, quantity=update.quantity + 5)
    [result] = await connector.update_stock([bigger])
    assert await harness.stock_set(update) == bigger.quantity


async def test_listings_pull_every_page_with_seeded_codes_and_quantities(
    connector: Connector, harness: PlatformHarness
) -> None:
    _needs(connector, Capability.LISTINGS_PULL)
    several = {"CONF-LST-A1": 5, "CONF-LST-A2": 0, "CONF-LST-A3": 12}
    several_id = await harness.seed_listing(several)
    single_id = await harness.seed_listing({"CONF-LST-B1": 7})
    hidden_id = await harness.seed_listing({"CONF-LST-C1": 3, "CONF-LST-C2": 4}, active=False)

    listings, pages = await pull_all_listings(connector)
    assert pages >= 3, "small pages: the shop's listings span several"
    assert all(listing.platform_listing_id for listing in listings)
    keys = [(listing.platform_listing_id, listing.platform_sku_id) for listing in listings]
    assert len(keys) == len(set(keys)), "a listing appeared twice"
    assert all(listing.raw for listing in listings), "the native payload is kept"

    by_sku = _by_sku(listings)
    for code, quantity in several.items():
        assert by_sku[code].platform_listing_id == several_id
        assert by_sku[code].quantity == quantity
    assert len({by_sku[code].platform_sku_id for code in several}) == len(several)
    assert by_sku["CONF-LST-B1"].platform_listing_id == single_id
    assert by_sku["CONF-LST-B1"].quantity == 7
    assert not {"CONF-LST-C1", "CONF-LST-C2"} & set(by_sku), "off-sale listings are not listed"
    assert hidden_id not in {listing.platform_listing_id for listing in listings}

    expected = {
        (s.platform_listing_id, s.platform_sku_id): s for s in await harness.sandbox_listings()
    }
    assert set(keys) == set(expected)
    for listing in listings:
        native = expected[(listing.platform_listing_id, listing.platform_sku_id)]
        assert listing.merchant_sku == native.merchant_sku
        assert listing.quantity == native.quantity


async def test_stock_update_of_a_listing_shows_on_the_platform(
    connector: Connector, harness: PlatformHarness
) -> None:
    _needs(connector, Capability.LISTINGS_PULL, Capability.STOCK_UPDATE)
    await harness.seed_listing({"CONF-STK-1": 4, "CONF-STK-2": 9})
    await harness.seed_listing({"CONF-STK-3": 6})
    by_sku = _by_sku((await pull_all_listings(connector))[0])
    updates = [_update(by_sku["CONF-STK-2"], 21), _update(by_sku["CONF-STK-3"], 0)]
    results = await connector.update_stock(updates)
    assert [r.ok for r in results] == [True, True], results
    for update in updates:
        assert await harness.stock_set(update) == update.quantity
        assert (
            await harness.sandbox_quantity(update.platform_listing_id, update.platform_sku_id)
            == update.quantity
        )
    again = _by_sku((await pull_all_listings(connector))[0])
    assert again["CONF-STK-2"].quantity == 21
    assert again["CONF-STK-3"].quantity == 0
    assert again["CONF-STK-1"].quantity == 4, "the other units are untouched"


async def test_stock_update_for_a_missing_listing_is_reported_and_the_rest_go_on(
    connector: Connector, harness: PlatformHarness, calls: list[CallRecord]
) -> None:
    _needs(connector, Capability.LISTINGS_PULL, Capability.STOCK_UPDATE)
    await harness.seed_listing({"CONF-MIS-1": 1, "CONF-MIS-2": 2})
    by_sku = _by_sku((await pull_all_listings(connector))[0])
    updates = [
        _update(by_sku["CONF-MIS-1"], 11),
        harness.missing_stock_update(5),
        _update(by_sku["CONF-MIS-2"], 12),
    ]
    calls.clear()
    results = await connector.update_stock(updates)
    assert [r.update for r in results] == updates
    assert [r.ok for r in results] == [True, False, True], results
    refused = [c for c in calls if c.outcome != "ok"]
    assert len(refused) == 1, "the platform itself refused the missing listing"
    error = results[1].error
    assert error and refused[0].code and refused[0].code in error, (error, refused)
    assert await harness.stock_set(updates[0]) == 11
    assert await harness.stock_set(updates[2]) == 12


async def test_stock_batch_stays_within_the_rate_limit(
    connector: Connector, harness: PlatformHarness, calls: list[CallRecord]
) -> None:
    _needs(connector, Capability.LISTINGS_PULL, Capability.STOCK_UPDATE)
    codes = [f"CONF-BATCH-{n}" for n in range(1, 7)]
    await harness.seed_listing(dict.fromkeys(codes, 1))
    by_sku = _by_sku((await pull_all_listings(connector))[0])
    count = max(30, connector.info.rate_limit.burst + 3)
    updates = [_update(by_sku[codes[n % len(codes)]], 100 + n) for n in range(count)]
    results = await connector.update_stock(updates)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert len(calls) >= count
    assert [c for c in calls if c.outcome != "ok"] == [], "the platform had to throttle"
    final = {(u.platform_listing_id, u.platform_sku_id): u.quantity for u in updates}
    for (listing_id, sku_id), quantity in final.items():
        assert await harness.sandbox_quantity(listing_id, sku_id) == quantity


async def test_every_order_kind_is_listed_by_pull(
    connector: Connector, harness: PlatformHarness
) -> None:
    kinds = await harness.orders_of_every_kind()
    orders, _ = await pull_all(connector, _window())
    listed = {o.platform_order_id for o in orders}
    missing = {kind: oid for kind, oid in kinds.items() if oid not in listed}
    assert not missing, f"order kinds the pull never returned: {missing}"


async def test_platform_rate_limiting_is_waited_out(
    connector: Connector, harness: PlatformHarness
) -> None:
    [platform_order_id] = await harness.create_orders(1)
    await harness.inject("rate_limit", count=1)
    assert (await connector.get_order(platform_order_id)).platform_order_id == platform_order_id
    await harness.exhaust_rate_limit()
    assert (await connector.get_order(platform_order_id)).platform_order_id == platform_order_id


async def test_never_calls_beyond_the_declared_limit(
    connector: Connector, harness: PlatformHarness, calls: list[CallRecord]
) -> None:
    """A burst larger than the platform's bucket is paced by the connector, so the platform
    never has to throttle it."""
    [platform_order_id] = await harness.create_orders(1)
    burst = connector.info.rate_limit.burst + 3
    await asyncio.gather(*(connector.get_order(platform_order_id) for _ in range(burst)))
    assert len(calls) >= burst
    assert [c for c in calls if c.outcome != "ok"] == []


async def test_expired_token_is_auth_expired_with_a_reason(
    connector: Connector, harness: PlatformHarness
) -> None:
    [platform_order_id] = await harness.create_orders(1)
    await harness.inject("auth_expired")
    with pytest.raises(AuthExpired) as caught:
        await connector.get_order(platform_order_id)
    assert caught.value.message
    assert caught.value.platform == connector.info.platform


async def test_platform_outage_is_unavailable(
    connector: Connector, harness: PlatformHarness
) -> None:
    [platform_order_id] = await harness.create_orders(1)
    await harness.inject("unavailable")
    with pytest.raises(Unavailable):
        await connector.get_order(platform_order_id)
    assert (await connector.get_order(platform_order_id)).platform_order_id == platform_order_id


async def test_push_with_bad_signature_is_rejected(
    connector: Connector, harness: PlatformHarness
) -> None:
    if Capability.ORDERS_PUSH not in connector.info.capabilities:
        pytest.skip("platform does not push")
    [platform_order_id] = await harness.create_orders(1)
    native = (await connector.get_order(platform_order_id)).raw
    assert isinstance(native, dict)
    headers, body = harness.push(native, valid_signature=True)
    [message] = connector.verify_push(headers, body)
    assert message.platform_order_id == platform_order_id
    headers, body = harness.push(native, valid_signature=False)
    with pytest.raises(PushRejected):
        connector.verify_push(headers, body)
    with pytest.raises(PushRejected):
        connector.verify_push(headers, body[:-1] + b" ")


def test_malformed_payload_raises_mapping_error(
    connector: Connector, harness: PlatformHarness
) -> None:
    with pytest.raises(MappingError) as caught:
        connector.map_order(harness.malformed_payload())
    assert caught.value.message
