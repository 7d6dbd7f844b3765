"""The connector's operations over httpx.MockTransport: the exact calls sent for pull (keyset
paging, windows, detail reads), get, confirm and stock, and the refusals that send nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from shopbridge.connectors import (
    AuthExpired,
    Capability,
    NotFound,
    PullWindow,
    Rejected,
    ShipmentLineRequest,
    ShipmentRequest,
    StockUpdate,
    Unavailable,
)
from shopbridge.connectors.registry import connector_class
from shopbridge.connectors.taobao import TaobaoConnector
from shopbridge.connectors.taobao.connector import ALL_TRADE_TYPES
from shopbridge.connectors.taobao.paging import PageCursor
from shopbridge.core import Order, OrderStatus
from tests.connectors.taobao.helpers import (
    connector,
    form,
    fullinfo,
    load,
    ok,
    shop,
    top_error,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
INCREMENT = "taobao.trades.sold.increment.get"
FULLINFO = "taobao.trade.fullinfo.get"
SEND = "taobao.logistics.offline.send"
QUANTITY = "taobao.item.quantity.update"
BASE = datetime(2026, 12, 2, 2, 0, 0, tzinfo=UTC)  # 2026-12-02 10:00:00 in Shanghai


def wall(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def parse_wall(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)


# ------------------------------------------------------------------ declaration


def test_declares_what_it_does() -> None:
    info = TaobaoConnector.info
    assert info.platform == "taobao"
    assert info.display_name == "Taobao / Tmall"
    assert info.api_version == "2.0"
    assert info.capabilities == {
        Capability.ORDERS_PULL,
        Capability.ORDERS_GET,
        Capability.ORDERS_PUSH,
        Capability.PUSH_CHANNEL,
        Capability.SHIPMENT_CONFIRM,
        Capability.STOCK_UPDATE,
        Capability.LISTINGS_PULL,
        Capability.WAYBILL,
        Capability.RECEIVER_DECRYPT,
    }
    (stream,) = info.streams
    assert stream.cursor_field == "modified"
    assert timedelta(0) < stream.overlap < stream.window <= timedelta(days=1)
    assert stream.page_size == 100
    assert stream.max_lookback == timedelta(days=89)
    assert info.timezone == "Asia/Shanghai"
    assert info.rate_limit.rate == 10 and info.rate_limit.burst == 20


def test_registered_entry_point() -> None:
    assert connector_class("taobao") is TaobaoConnector


@pytest.mark.parametrize(
    "settings",
    [
        {"order_detail": "everything"},
        {"detail_concurrency": 0},
        {"qps": -1},
        {"qps": 50, "burst": 0},
        {"trade_types": ""},
        {"carrier_codes": {"JD": "京东"}},
    ],
)
def test_bad_settings_are_configuration_errors(settings: dict[str, Any]) -> None:
    with pytest.raises(Rejected) as caught:
        TaobaoConnector(shop(**settings))
    assert caught.value.code == "configuration"


def test_settings() -> None:
    conn = TaobaoConnector(shop(page_size=3, qps=50, burst=80, trade_types=["fixed", "step"]))
    assert conn.page_size == 3
    assert conn.api.transport.bucket.rate == pytest.approx(45)
    assert conn.trade_types == "fixed,step"
    assert TaobaoConnector(shop(page_size=500)).page_size == 100
    assert TaobaoConnector(shop()).seller_user_id == "2200001234567"
    assert TaobaoConnector(shop(platform_shop_id="青禾家居旗舰店")).seller_user_id is None


# ------------------------------------------------------------------ a fake TOP trade list


class FakeTop:
    """Just enough of TOP for paging: the trade list sorted by `modified` newest first (ties
    in insertion order), `page_no`/`page_size`/`has_next`, configurable bound semantics, and
    `taobao.trade.fullinfo.get`."""

    def __init__(self, *, inclusive: bool = True, ascending: bool = False) -> None:
        self.trades: dict[str, dict[str, Any]] = {}
        self.inclusive = inclusive
        self.ascending = ascending
        self.list_calls: list[dict[str, str]] = []
        self.after_list: Callable[[int], None] | None = None

    def add(self, tid: int, modified: datetime) -> str:
        trade = load("shipped")
        trade.update(tid=tid, tid_str=str(tid), modified=wall(modified))
        line = trade["orders"]["order"][0]
        line.update(oid=tid, oid_str=str(tid))
        self.trades[str(tid)] = trade
        return str(tid)

    def touch(self, tid: str, modified: datetime) -> None:
        trade = self.trades.pop(tid)
        trade["modified"] = wall(modified)
        self.trades[tid] = trade

    def handler(self, request: httpx.Request) -> httpx.Response:
        params = form(request)
        if params["method"] == FULLINFO:
            trade = self.trades.get(params["tid"])
            if trade is None:
                return top_error(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
            return fullinfo(trade)
        assert params["method"] == INCREMENT
        self.list_calls.append(params)
        low, high = parse_wall(params["start_modified"]), parse_wall(params["end_modified"])
        rows = [
            t
            for t in self.trades.values()
            if (low <= parse_wall(t["modified"]) <= high)
            if self.inclusive or low < parse_wall(t["modified"]) < high
        ]
        order = list(self.trades)
        rows.sort(key=lambda t: (parse_wall(t["modified"]), -order.index(t["tid_str"])))
        if not self.ascending:
            rows.reverse()
        page, size = int(params["page_no"]), int(params["page_size"])
        chunk = rows[(page - 1) * size : page * size]
        body = {
            "trades": {
                "trade": [
                    {"tid": t["tid"], "tid_str": t["tid_str"], "modified": t["modified"]}
                    for t in chunk
                ]
            },
            "has_next": page * size < len(rows),
        }
        if self.after_list is not None:
            self.after_list(len(self.list_calls))
        return ok(INCREMENT, body)


async def pull_all(conn: TaobaoConnector, window: PullWindow) -> tuple[list[Order], int]:
    orders: list[Order] = []
    pages = 0
    page: str | None = None
    while True:
        result = await conn.pull_orders(window, page)
        pages += 1
        assert not result.unmapped, result.unmapped
        orders += result.orders
        if result.next_page is None:
            return orders, pages
        page = result.next_page


def ids(orders: list[Order]) -> list[str]:
    return [o.platform_order_id for o in orders]


# ------------------------------------------------------------------ pulling


async def test_first_page_request() -> None:
    fake = FakeTop()
    for n in range(5):
        fake.add(1000 + n, BASE + timedelta(seconds=10 * n))
    conn, sent, client = connector(fake.handler, page_size=3)
    window = PullWindow(BASE + timedelta(milliseconds=250), BASE + timedelta(minutes=30))
    page = await conn.pull_orders(window)
    first = form(sent[0])
    assert first["method"] == INCREMENT
    assert first["start_modified"] == "2026-12-02 10:00:00"  # ceil(start) - 1 s
    assert first["end_modified"] == "2026-12-02 10:30:00"  # last second before end, + 1 s
    assert (first["page_no"], first["page_size"], first["use_has_next"]) == ("1", "3", "true")
    assert first["fields"] == "tid,tid_str,modified"
    assert first["type"] == ALL_TRADE_TYPES  # every type, or Tmall Global orders would be missed
    assert [form(r)["method"] for r in sent[1:]] == [FULLINFO] * 3
    assert sorted(form(r)["tid"] for r in sent[1:]) == ["1002", "1003", "1004"]
    assert ids(page.orders) == ["1004", "1003", "1002"]
    assert page.next_page is not None
    cursor = PageCursor.decode(page.next_page)
    assert cursor.anchor == int((BASE + timedelta(seconds=20)).timestamp())
    assert (cursor.page, cursor.seen) == (1, frozenset({"1002"}))
    second = await conn.pull_orders(window, page.next_page)
    assert ids(second.orders) == ["1001"]  # 1000 is before the window start
    assert second.next_page is None
    request = fake.list_calls[1]
    assert request["end_modified"] == "2026-12-02 10:00:21"
    assert request["page_no"] == "1"
    await client.aclose()


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("spread", [0, 1, 7])
async def test_window_over_several_pages_returns_each_order_once(
    inclusive: bool, spread: int
) -> None:
    fake = FakeTop(inclusive=inclusive)
    created = [fake.add(2000 + n, BASE + timedelta(seconds=spread * (n // 2))) for n in range(8)]
    conn, _, client = connector(fake.handler, page_size=3)
    orders, pages = await pull_all(
        conn, PullWindow(BASE - timedelta(minutes=5), BASE + timedelta(minutes=5))
    )
    assert sorted(ids(orders)) == sorted(created)
    assert len(set(ids(orders))) == len(orders)
    assert pages >= 3
    await client.aclose()


async def test_half_open_windows_partition_the_orders() -> None:
    fake = FakeTop()
    before = [fake.add(3000 + n, BASE + timedelta(seconds=n)) for n in range(4)]
    middle = BASE + timedelta(seconds=10)
    after = [fake.add(3100 + n, middle + timedelta(seconds=n)) for n in range(4)]
    conn, _, client = connector(fake.handler, page_size=3)
    first, _ = await pull_all(conn, PullWindow(BASE - timedelta(minutes=1), middle))
    second, _ = await pull_all(conn, PullWindow(middle, middle + timedelta(minutes=1)))
    assert sorted(ids(first)) == sorted(before)
    assert sorted(ids(second)) == sorted(after)  # the one at exactly `middle` is the second's
    await client.aclose()


async def test_trade_modified_again_during_a_closed_window_pull_is_not_skipped() -> None:
    """Offset paging loses a row here: an already-read trade leaves the (past) window and the
    rest move up one place. Keyset paging cannot."""
    fake = FakeTop()
    created = [fake.add(4000 + n, BASE + timedelta(seconds=n)) for n in range(7)]
    window = PullWindow(BASE - timedelta(minutes=1), BASE + timedelta(minutes=1))

    def change(calls: int) -> None:
        if calls == 1:  # after the first page: 4005 changes again, long after the window
            fake.touch("4005", BASE + timedelta(hours=1))

    fake.after_list = change
    conn, _, client = connector(fake.handler, page_size=3)
    orders, _ = await pull_all(conn, window)
    assert sorted(set(ids(orders))) == sorted(created)
    await client.aclose()


async def test_trade_modified_during_an_open_window_pull_shows_up_next() -> None:
    fake = FakeTop()
    created = [fake.add(5000 + n, BASE + timedelta(seconds=n)) for n in range(7)]
    window = PullWindow(BASE - timedelta(minutes=1), BASE + timedelta(hours=2))

    def change(calls: int) -> None:
        if calls == 1:  # the oldest, unread trade moves to the front (still inside the window)
            fake.touch("5000", BASE + timedelta(minutes=30))

    fake.after_list = change
    conn, _, client = connector(fake.handler, page_size=3)
    orders, _ = await pull_all(conn, window)
    fake.after_list = None
    high_water = max(o.platform_updated_at for o in orders if o.platform_updated_at)
    overlap = TaobaoConnector.info.streams[0].overlap
    later, _ = await pull_all(conn, PullWindow(high_water - overlap, window.end))
    assert set(created) <= set(ids(orders)) | set(ids(later))
    await client.aclose()


async def test_unsorted_gateway_falls_back_to_page_numbers() -> None:
    fake = FakeTop(ascending=True)
    created = [fake.add(6000 + n, BASE + timedelta(seconds=n)) for n in range(7)]
    conn, _, client = connector(fake.handler, page_size=3)
    orders, _ = await pull_all(
        conn, PullWindow(BASE - timedelta(minutes=1), BASE + timedelta(minutes=1))
    )
    assert sorted(ids(orders)) == sorted(created)
    assert [c["page_no"] for c in fake.list_calls] == ["1", "2", "3"]
    await client.aclose()


async def test_list_mode_maps_rows_without_detail_calls() -> None:
    trades = [load("shipped"), load("awaiting_shipment_multi")]
    trades[0]["modified"] = wall(BASE + timedelta(seconds=5))
    trades[1]["modified"] = wall(BASE + timedelta(seconds=3))

    def handler(request: httpx.Request) -> httpx.Response:
        assert form(request)["method"] == INCREMENT
        assert "receiver_name" in form(request)["fields"].split(",")
        return ok(INCREMENT, {"trades": {"trade": trades}, "has_next": False})

    conn, sent, client = connector(handler, order_detail="list", trade_types="fixed,step")
    page = await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)))
    assert len(sent) == 1 and form(sent[0])["type"] == "fixed,step"
    assert [o.status for o in page.orders] == [OrderStatus.SHIPPED, OrderStatus.AWAITING_SHIPMENT]
    assert page.next_page is None
    await client.aclose()


async def test_mapping_failures_do_not_stop_the_page() -> None:
    fake = FakeTop()
    good = fake.add(7001, BASE + timedelta(seconds=2))
    fake.add(7002, BASE + timedelta(seconds=1))
    fake.trades["7002"]["payment"] = 12.5  # a float amount
    conn, _, client = connector(fake.handler)
    page = await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)))
    assert ids(page.orders) == [good]
    (unmapped,) = page.unmapped
    assert unmapped.platform_order_id == "7002"
    assert unmapped.reason.startswith("$.payment")
    assert unmapped.raw["tid_str"] == "7002"
    await client.aclose()


async def test_list_rows_that_cannot_be_read() -> None:
    rows = [
        {"tid": 8001, "modified": "yesterday"},
        {"tid_str": "8002", "modified": wall(BASE + timedelta(seconds=1))},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if form(request)["method"] == FULLINFO:
            return top_error(15, "Remote service error", "isv.trade-not-exist", "交易不存在")
        return ok(INCREMENT, {"trades": {"trade": rows}, "has_next": False})

    conn, _, client = connector(handler)
    page = await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)))
    assert page.orders == []
    reasons = {u.platform_order_id: u.reason for u in page.unmapped}
    assert reasons["8001"].startswith("$.trades[0].modified")
    assert reasons["8002"].startswith("listed, but not found")
    await client.aclose()


async def test_detail_outage_fails_the_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if form(request)["method"] == FULLINFO:
            return httpx.Response(503)
        row = {"tid": 9001, "tid_str": "9001", "modified": wall(BASE + timedelta(seconds=1))}
        return ok(INCREMENT, {"trades": {"trade": [row]}, "has_next": False})

    conn, _, client = connector(handler)
    with pytest.raises(Unavailable):
        await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)))
    await client.aclose()


async def test_empty_and_oversized_windows() -> None:
    conn, sent, client = connector(lambda r: ok(INCREMENT, {"has_next": False}))
    empty = await conn.pull_orders(
        PullWindow(BASE + timedelta(milliseconds=100), BASE + timedelta(milliseconds=900))
    )
    assert empty.orders == [] and empty.next_page is None and sent == []
    nothing = await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)))
    assert nothing.orders == [] and nothing.next_page is None and len(sent) == 1
    with pytest.raises(Rejected) as caught:
        await conn.pull_orders(PullWindow(BASE, BASE + timedelta(days=1)))
    assert caught.value.code == "window_too_long"
    with pytest.raises(Rejected) as caught:
        await conn.pull_orders(PullWindow(BASE, BASE + timedelta(minutes=1)), "page-2")
    assert caught.value.code == "bad_page_token"
    await client.aclose()


def test_page_cursor_tokens() -> None:
    cursor = PageCursor(anchor=1764640800, page=2, seen=frozenset({"12", "3"}))
    assert cursor.encode() == "v1:1764640800:2:12,3"
    assert PageCursor.decode(cursor.encode()) == cursor
    rows: list[tuple[str | None, int | None]] = [("a", 10), ("b", 9), ("c", 9)]
    assert cursor.advance(rows, has_next=False, floor=0) is None
    assert cursor.advance(rows, has_next=True, floor=0) == PageCursor(9, 1, frozenset({"b", "c"}))
    assert cursor.advance(rows, has_next=True, floor=10) is None
    same = PageCursor(anchor=9, page=1, seen=frozenset({"x"}))
    assert same.advance([("a", 9), ("b", 9)], has_next=True, floor=0) == PageCursor(
        9, 2, frozenset({"x"})
    )
    assert same.advance([("a", 8), ("b", 9)], has_next=True, floor=0) == PageCursor(
        9, 2, frozenset({"x"})
    )
    for bad in ("", "v2:1:1:", "v1:x:1:", "v1:1:0:", "v1:1:1:a b"):
        with pytest.raises(Rejected):
            PageCursor.decode(bad)


# ------------------------------------------------------------------ get


async def test_get_order_and_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        tid = form(request)["tid"]
        if tid == "3950334567890123456":
            return fullinfo(load("shipped"))
        if tid == "1":
            return ok(FULLINFO, {})
        return top_error(15, "Remote service error", "isv.trade-not-exist", "交易订单不存在")

    conn, sent, client = connector(handler)
    assert (await conn.get_order(" 3950334567890123456 ")).status is OrderStatus.SHIPPED
    for missing in ("999999999999", "1"):
        with pytest.raises(NotFound):
            await conn.get_order(missing)
    calls = len(sent)
    for bad in ("abc", "-5", "0", "１２３", "12345678901234567890123"):
        with pytest.raises(NotFound):
            await conn.get_order(bad)
    assert len(sent) == calls
    await client.aclose()


# ------------------------------------------------------------------ confirm shipment


def shipping_handler(
    trade: dict[str, Any], *, success: object = True
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        method = form(request)["method"]
        if method == FULLINFO:
            return fullinfo(trade)
        assert method == SEND
        return ok(SEND, {"shipping": {"is_success": success}})

    return handler


async def test_confirm_whole_trade() -> None:
    trade = load("awaiting_shipment_multi")
    conn, sent, client = connector(shipping_handler(trade))
    result = await conn.confirm_shipment(
        "3950117702384416531", ShipmentRequest(carrier_code="SF", tracking_number=" SF1234567890 ")
    )
    assert result.platform_shipment_id is None and result.raw == {"is_success": True}
    read, send = (form(r) for r in sent)
    assert read["method"] == FULLINFO and read["fields"] == "tid,tid_str,status,type,orders"
    assert send["method"] == SEND
    assert (send["tid"], send["out_sid"], send["company_code"]) == (
        "3950117702384416531",
        "SF1234567890",
        "SF",
    )
    assert "is_split" not in send and "sub_tid" not in send
    await client.aclose()


async def test_confirm_a_trade_without_sub_order_details() -> None:
    trade = {"tid": 3950117702384416531, "status": "WAIT_SELLER_SEND_GOODS", "type": "fixed"}
    conn, sent, client = connector(shipping_handler(trade))
    await conn.confirm_shipment(
        "3950117702384416531", ShipmentRequest(carrier_code="YTO", tracking_number="YT1")
    )
    send = form(sent[-1])
    assert send["company_code"] == "YTO" and "is_split" not in send
    with pytest.raises(Rejected, match="not a sub-order"):
        await conn.confirm_shipment(
            "3950117702384416531",
            ShipmentRequest(
                carrier_code="YTO", tracking_number="YT1", lines=(ShipmentLineRequest("7", 1),)
            ),
        )
    await client.aclose()


async def test_confirm_some_lines_splits_by_sub_order() -> None:
    trade = load("awaiting_shipment_multi")
    conn, sent, client = connector(shipping_handler(trade))
    lines = (
        ShipmentLineRequest("3950117702385416531", 2),
        ShipmentLineRequest("3950117702387416531", 4),
    )
    await conn.confirm_shipment(
        "3950117702384416531",
        ShipmentRequest(carrier_code="CHINA_POST", tracking_number="9812345678901", lines=lines),
    )
    send = form(sent[-1])
    assert send["company_code"] == "POSTB"
    assert send["is_split"] == "1"
    assert send["sub_tid"] == "3950117702385416531,3950117702387416531"
    await client.aclose()


async def test_confirm_the_rest_of_a_partly_shipped_trade() -> None:
    conn, sent, client = connector(
        shipping_handler(load("partially_shipped")), carrier_codes={"JD": "JD"}
    )
    await conn.confirm_shipment(
        "3950223456789012345", ShipmentRequest(carrier_code="JD", tracking_number="JDVA00012345678")
    )
    send = form(sent[-1])
    assert (send["company_code"], send["is_split"], send["sub_tid"]) == (
        "JD",
        "1",
        "3950223456789012347",
    )
    await client.aclose()


@pytest.mark.parametrize(
    ("fixture", "lines", "code", "words"),
    [
        (
            "awaiting_shipment_multi",
            [("3950117702385416531", 1)],
            "partial_quantity",
            "whole sub-orders",
        ),
        ("awaiting_shipment_multi", [("123", 1)], "line_not_open", "not a sub-order"),
        ("partially_shipped", [("3950223456789012346", 2)], "line_not_open", "already shipped"),
        ("paid_forbid_consign", [], "not_shippable", "PAID_FORBID_CONSIGN"),
        ("closed_by_taobao", [], "not_shippable", "must not ship"),
        ("closed_refunded", [], "not_shippable", "must not ship"),
        ("presale_deposit_paid", [], "not_shippable", "not paid"),
        ("shipped", [], "not_shippable", "already shipped"),
    ],
)
async def test_refusals_send_nothing(
    fixture: str, lines: list[tuple[str, int]], code: str, words: str
) -> None:
    trade = load(fixture)
    conn, sent, client = connector(shipping_handler(trade))
    request = ShipmentRequest(
        carrier_code="ZTO",
        tracking_number="78912345678902",
        lines=tuple(ShipmentLineRequest(i, q) for i, q in lines),
    )
    with pytest.raises(Rejected) as caught:
        await conn.confirm_shipment(trade["tid_str"], request)
    assert caught.value.code == code
    assert words in caught.value.reason
    assert [form(r)["method"] for r in sent] == [FULLINFO]
    await client.aclose()


async def test_refused_before_any_call() -> None:
    conn, sent, client = connector(shipping_handler(load("awaiting_shipment_multi")))
    tid = "3950117702384416531"
    for request, code in (
        (
            ShipmentRequest(carrier_code="EMS", tracking_number="1234567890123"),
            "unsupported_carrier",
        ),
        (ShipmentRequest(carrier_code="SF", tracking_number="  "), "no_tracking_number"),
        (ShipmentRequest(carrier_code="SF", tracking_number="SF1 SF2"), "bad_tracking_number"),
        (
            ShipmentRequest(
                carrier_code="SF", tracking_number="SF1", lines=(ShipmentLineRequest("1", 0),)
            ),
            "bad_quantity",
        ),
    ):
        with pytest.raises(Rejected) as caught:
            await conn.confirm_shipment(tid, request)
        assert caught.value.code == code
    with pytest.raises(NotFound):
        await conn.confirm_shipment(
            "not-a-tid", ShipmentRequest(carrier_code="SF", tracking_number="SF1")
        )
    assert sent == []
    await client.aclose()


async def test_cash_on_delivery_and_platform_refusals() -> None:
    cod = load("awaiting_shipment_multi")
    cod["type"] = "cod"
    conn, _, client = connector(shipping_handler(cod))
    with pytest.raises(Rejected, match="cash-on-delivery"):
        await conn.confirm_shipment(
            cod["tid_str"], ShipmentRequest(carrier_code="SF", tracking_number="SF1")
        )
    await client.aclose()
    trade = load("awaiting_shipment_multi")
    conn, _, client = connector(shipping_handler(trade, success="false"))
    with pytest.raises(Rejected) as caught:
        await conn.confirm_shipment(
            trade["tid_str"], ShipmentRequest(carrier_code="SF", tracking_number="SF1")
        )
    assert caught.value.code == "not_accepted"
    await client.aclose()

    def refuse(request: httpx.Request) -> httpx.Response:
        if form(request)["method"] == FULLINFO:
            return fullinfo(trade)
        return top_error(
            15,
            "Remote service error",
            "isv.logistics-offline-service-error:B04",
            "运单号不符合规则",
        )

    conn, _, client = connector(refuse)
    with pytest.raises(Rejected) as caught:
        await conn.confirm_shipment(
            trade["tid_str"], ShipmentRequest(carrier_code="SF", tracking_number="SF1")
        )
    assert caught.value.reason == "运单号不符合规则"
    await client.aclose()


# ------------------------------------------------------------------ stock


async def test_stock_updates_are_isolated() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        params = form(request)
        assert params["method"] == QUANTITY
        if params["num_iid"] == "2":
            return top_error(
                15, "Remote service error", "isv.item-quantity-update-failed", "库存更新失败"
            )
        return ok(
            QUANTITY, {"item": {"num_iid": int(params["num_iid"]), "num": int(params["quantity"])}}
        )

    conn, sent, client = connector(handler)
    updates = [
        StockUpdate("1", "5123456789012", 7),
        StockUpdate("2", None, 3),
        StockUpdate("three", None, 3),
        StockUpdate("4", None, 0, location_id="WH-1"),
        StockUpdate("5", None, -1),
    ]
    results = await conn.update_stock(updates)
    assert [r.ok for r in results] == [True, False, False, True, False]
    assert results[1].error is not None and "库存更新失败" in results[1].error
    first, second, fourth = (form(r) for r in sent)
    assert (first["num_iid"], first["sku_id"], first["quantity"], first["type"]) == (
        "1",
        "5123456789012",
        "7",
        "1",
    )
    assert "sku_id" not in second
    assert (fourth["num_iid"], fourth["quantity"]) == ("4", "0")
    await client.aclose()


async def test_stock_auth_expired_stops_everything() -> None:
    conn, sent, client = connector(lambda r: top_error(27, "Invalid session", "invalid-sessionkey"))
    with pytest.raises(AuthExpired):
        await conn.update_stock([StockUpdate("1", None, 1), StockUpdate("2", None, 2)])
    assert len(sent) == 1
    await client.aclose()
