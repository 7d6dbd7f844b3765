"""`TaobaoConnector`: Taobao / Tmall (TOP, API 2.0) behind the unified `Connector` interface.

Credentials: `app_key`, `app_secret` (signs every call, verifies relayed TMC messages),
`session` (the seller's OAuth access token, sent as `session`), optional
`previous_app_secret` (accepted for relayed TMC messages during a secret rotation).

Settings: `sign_method` (`hmac-sha256` default, `md5`, `hmac`), `page_size` (trades per pull
page, 1..100; also lowers the items per listings page, 1..200), `order_detail` (`fullinfo` default: one `taobao.trade.fullinfo.get` per listed
trade; `list`: map the list rows as they come), `detail_concurrency` (1..16, default 4),
`trade_types` (the `type` filter of the list call; every documented type when absent),
`carrier_codes` (unified carrier -> Taobao `company_code` additions or overrides),
`tmc_group` (TMC group to consume), `seller_user_id` (the seller's Taobao user id; defaults
to a numeric `platform_shop_id`), `qps` / `burst` (this app's call rate, when TOP granted
more than the conservative default).

Privacy shipping (see `privacy.py`): `order_channel` (`TB` default, `TM` for a Tmall shop:
Cainiao's `order_channels_type`), `waybill_cp_codes` (unified carrier -> Cainiao `cp_code`
where it differs from the `company_code` of `carrier_codes`), `secret_no_days` (1..90,
default 15: how long a privacy number handed out by a decrypt stays bound).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

import httpx

from shopbridge.connectors.base import (
    Capability,
    Connector,
    ConnectorInfo,
    DecryptedReceiver,
    Listing,
    ListingPage,
    OrderPage,
    PullWindow,
    PushMessage,
    RateLimit,
    ReceiverQuery,
    ShipmentRequest,
    ShipmentResult,
    ShopContext,
    StockUpdate,
    StockUpdateResult,
    StreamSpec,
    UnmappedOrder,
    WaybillRequest,
    WaybillResult,
)
from shopbridge.connectors.errors import (
    AuthExpired,
    ConnectorError,
    MappingError,
    NotFound,
    Rejected,
)
from shopbridge.connectors.taobao import statuses
from shopbridge.connectors.taobao.carriers import carrier_overrides, taobao_company_code
from shopbridge.connectors.taobao.listings import (
    ITEM_FIELDS,
    MAX_ITEMS_PAGE_SIZE,
    ONSALE_METHOD,
    SKU_FIELDS,
    SKUS_BATCH,
    SKUS_METHOD,
    decode_listing_page,
    encode_listing_page,
    group_skus,
    item_id_of,
    map_item_listings,
)
from shopbridge.connectors.taobao.mapping import (
    list_items,
    map_order,
    parse_time,
    sub_order_id_of,
    trade_id_of,
)
from shopbridge.connectors.taobao.paging import PageCursor
from shopbridge.connectors.taobao.privacy import (
    DECRYPT_BATCH,
    DECRYPT_METHOD,
    ORDER_CHANNELS,
    WAYBILL_METHOD,
    decrypt_param,
    parse_decrypted,
    parse_waybill,
    waybill_param,
)
from shopbridge.connectors.taobao.push import (
    TmcMessageError,
    consumed_message,
    parse_relay,
)
from shopbridge.connectors.taobao.transport import (
    API_VERSION,
    PLATFORM,
    TopApi,
    format_timestamp,
)
from shopbridge.connectors.transport import CallObserver
from shopbridge.core import Order, from_epoch_seconds
from shopbridge.logging import get_logger

__all__ = ["TaobaoConnector"]

log = get_logger(__name__)

MAX_PAGE_SIZE: Final = 100
MAX_QUERY_SPAN: Final = timedelta(days=1)
"""`end_modified - start_modified` TOP accepts in one list call."""
TMC_MIN_QUANTITY: Final = 10
TMC_MAX_QUANTITY: Final = 200
TMC_CONFIRM_BATCH: Final = 200

INCREMENT_METHOD: Final = "taobao.trades.sold.increment.get"
FULLINFO_METHOD: Final = "taobao.trade.fullinfo.get"
OFFLINE_SEND_METHOD: Final = "taobao.logistics.offline.send"
QUANTITY_METHOD: Final = "taobao.item.quantity.update"
TMC_CONSUME_METHOD: Final = "taobao.tmc.messages.consume"
TMC_CONFIRM_METHOD: Final = "taobao.tmc.messages.confirm"

TRADE_FIELDS: Final = ",".join(
    (
        "tid",
        "tid_str",
        "status",
        "type",
        "step_trade_status",
        "step_paid_fee",
        "step_pay_details",
        "created",
        "modified",
        "pay_time",
        "consign_time",
        "end_time",
        "payment",
        "total_fee",
        "post_fee",
        "discount_fee",
        "adjust_fee",
        "received_payment",
        "coupon_fee",
        "tmall_coupon_fee",
        "paid_coupon_fee",
        "order_tax_fee",
        "alipay_no",
        "seller_nick",
        "buyer_nick",
        "buyer_open_uid",
        "buyer_message",
        "seller_memo",
        "seller_flag",
        "shipping_type",
        "trade_from",
        "receiver_name",
        "receiver_country",
        "receiver_state",
        "receiver_city",
        "receiver_district",
        "receiver_town",
        "receiver_address",
        "receiver_zip",
        "receiver_mobile",
        "receiver_phone",
        "oaid",
        "invoice_name",
        "invoice_type",
        "invoice_kind",
        "is_part_consign",
        "is_daixiao",
        "is_force_wlb",
        "forbid_consign",
        "timeout_action_time",
        "est_con_time",
        "promotion_details",
        "orders",
    )
)
"""What `taobao.trade.fullinfo.get` is asked for (and the list call in `list` mode). `orders`
returns every sub-order field. The five receiver fields plus `created` are what TOP needs to
return an `oaid`."""

LIST_FIELDS: Final = "tid,tid_str,modified"
"""What the list call asks for in `fullinfo` mode: ids and the paging key only."""

CONSIGN_FIELDS: Final = "tid,tid_str,status,type,orders"
"""What `confirm_shipment` reads before shipping."""


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)


def _epoch(moment: datetime) -> int:
    """Whole epoch seconds at or before `moment` (exact: no float)."""
    return (moment - _EPOCH) // _SECOND


def _first_second(moment: datetime) -> int:
    """The first whole second at or after `moment`."""
    whole = _epoch(moment)
    return whole if _EPOCH + whole * _SECOND == moment else whole + 1


def _last_second_before(moment: datetime) -> int:
    """The last whole second strictly before `moment`."""
    whole = _epoch(moment)
    return whole - 1 if _EPOCH + whole * _SECOND == moment else whole


def _top_time(epoch_second: int) -> str:
    return format_timestamp(from_epoch_seconds(epoch_second))


def _rejected(reason: str, interface: str | None, code: str) -> Rejected:
    return Rejected(reason, reason=reason, platform=PLATFORM, interface=interface, code=code)


def _numeric_id(value: str, what: str, interface: str | None = None) -> str:
    """A TOP int64 id as the digit string TOP takes back; `NotFound` for anything else."""
    text = value.strip()
    if not text.isdigit() or not text.isascii() or len(text) > 19 or int(text) <= 0:
        raise NotFound(
            f"{what} {value!r} is not a Taobao id",
            platform=PLATFORM,
            interface=interface,
            code="bad_id",
        )
    return str(int(text))


def _int_setting(settings: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = settings.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _rejected(f"{key} must be an integer from {low} to {high}", None, "configuration")
    return value


def _page_size(setting: object, maximum: int = MAX_PAGE_SIZE) -> int:
    if isinstance(setting, int) and not isinstance(setting, bool) and 1 <= setting <= maximum:
        return setting
    return maximum


def _rate_limit(settings: Mapping[str, Any], default: RateLimit) -> RateLimit:
    """The declared limit, or this app's own (`qps`, `burst`) when TOP granted more."""
    qps = settings.get("qps")
    if qps is None:
        return default
    if isinstance(qps, bool) or not isinstance(qps, int | float) or not 0 < qps <= 10_000:
        raise _rejected("qps must be a number of calls per second above 0", None, "configuration")
    burst = settings.get("burst", max(1, int(qps * 2)))
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise _rejected("burst must be a positive integer", None, "configuration")
    return RateLimit(requests=float(qps), per_seconds=1, burst=burst)


def _str_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _has_next(body: Mapping[str, Any], page_no: int, page_size: int, count: int) -> bool:
    """Whether a `page_no` paged list goes on: `has_next` when the answer has it, else
    `total_results`, else a full page."""
    flag = _str_bool(body.get("has_next"))
    if flag is not None:
        return flag
    total = body.get("total_results")
    if isinstance(total, str) and total.strip().isdigit():
        total = int(total.strip())
    if isinstance(total, int) and not isinstance(total, bool):
        return page_no * page_size < total
    return count >= page_size


ALL_TRADE_TYPES = (
    "fixed,auction,guarantee_trade,step,independent_simple_trade,independent_shop_trade,"
    "auto_delivery,ec,cod,game_equipment,shopex_trade,netcn_trade,external_trade,instant_trade,"
    "b2c_cod,hotel_trade,super_market_trade,super_market_cod_trade,taohua,waimai,"
    "o2o_offlinetrade,nopaid,eticket,tmall_i18n,insurance_plus,finance,pre_auth_type"
)
"""Every trade type TOP documents for the list calls. Without `type`, TOP lists only its
default few (no Tmall Global `tmall_i18n`, no `pre_auth_type`...), which would silently lose
those orders; `settings.trade_types` narrows it on purpose."""


class TaobaoConnector(Connector):
    """Trades (pull, get, TMC), offline shipment confirmation, listings and item stock on
    Taobao/Tmall."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        platform=PLATFORM,
        display_name="Taobao / Tmall",
        api_version=API_VERSION,
        capabilities=frozenset(
            {
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
        ),
        rate_limit=RateLimit(requests=10, per_seconds=1, burst=20),
        streams=(
            StreamSpec(
                name="orders",
                cursor_field="modified",
                window=timedelta(minutes=30),
                overlap=timedelta(minutes=3),
                page_size=MAX_PAGE_SIZE,
                max_lookback=timedelta(days=89),  # "three months"; the shortest is 89 days
            ),
        ),
        timezone="Asia/Shanghai",
    )

    def __init__(
        self,
        shop: ShopContext,
        *,
        client: httpx.AsyncClient | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        super().__init__(shop, client=client, observer=observer)
        settings = shop.settings
        self.page_size = _page_size(settings.get("page_size"))
        """Trades per list page (TOP allows 1..100); `settings["page_size"]` lowers it."""
        self.listing_page_size = _page_size(settings.get("page_size"), MAX_ITEMS_PAGE_SIZE)
        """Items per `pull_listings` page (TOP allows 1..200); `settings["page_size"]`
        lowers it."""
        detail = settings.get("order_detail", "fullinfo")
        if detail not in ("fullinfo", "list"):
            raise _rejected("order_detail must be 'fullinfo' or 'list'", None, "configuration")
        self.order_detail: str = str(detail)
        self.detail_concurrency = _int_setting(settings, "detail_concurrency", 4, 1, 16)
        types = settings.get("trade_types")
        if types is not None and not (
            (isinstance(types, str) and types.strip())
            or (isinstance(types, list | tuple) and types)
        ):
            raise _rejected(
                "trade_types must be a comma list of TOP trade types", None, "configuration"
            )
        self.trade_types: str | None = (
            ALL_TRADE_TYPES
            if types is None
            else types.strip()
            if isinstance(types, str)
            else ",".join(str(t).strip() for t in types)
        )
        self.carrier_codes = carrier_overrides(settings.get("carrier_codes"))
        group = settings.get("tmc_group")
        self.tmc_group: str | None = (
            group.strip() if isinstance(group, str) and group.strip() else None
        )
        seller = settings.get("seller_user_id") or shop.platform_shop_id
        self.seller_user_id: str | None = (
            str(seller).strip() if str(seller).strip().isdigit() else None
        )
        channel = settings.get("order_channel", "TB")
        if channel not in ORDER_CHANNELS:
            raise _rejected(
                "order_channel must be TB (Taobao) or TM (Tmall)", None, "configuration"
            )
        self.order_channel: str = str(channel)
        self.waybill_cp_codes = carrier_overrides(settings.get("waybill_cp_codes"))
        self.secret_no_days = _int_setting(settings, "secret_no_days", 15, 1, 90)
        self.api = TopApi(
            shop,
            rate_limit=_rate_limit(settings, self.info.rate_limit),
            client=client,
            observer=observer,
        )

    # ------------------------------------------------------------------ orders

    async def pull_orders(self, window: PullWindow, page: str | None = None) -> OrderPage:
        """One page of trades with `modified` in [window.start, window.end), newest first.

        Pages by key over `taobao.trades.sold.increment.get` (see `paging.PageCursor`), with
        `use_has_next=true`. In `fullinfo` mode each listed trade is then read with
        `taobao.trade.fullinfo.get` (1 + page size calls per page); in `list` mode the rows
        are mapped as listed. Membership in the window is decided on the listed `modified`.
        """
        floor = _first_second(window.start)
        top = _last_second_before(window.end)
        if top < floor:
            return OrderPage(orders=[], unmapped=[], next_page=None)
        if timedelta(seconds=top - floor + 2) > MAX_QUERY_SPAN:
            raise _rejected(
                "Taobao lists at most one day of changes per call; pull shorter windows "
                "(the declared stream window is 30 minutes)",
                INCREMENT_METHOD,
                "window_too_long",
            )
        cursor = PageCursor(anchor=top) if page is None else PageCursor.decode(page)
        params: dict[str, str | None] = {
            "fields": TRADE_FIELDS if self.order_detail == "list" else LIST_FIELDS,
            "start_modified": _top_time(floor - 1),
            "end_modified": _top_time(cursor.anchor + 1),
            "page_no": str(cursor.page),
            "page_size": str(self.page_size),
            "use_has_next": "true",
            "type": self.trade_types,
        }
        body = await self.api.call(INCREMENT_METHOD, params)
        try:
            items = [item for item, _ in list_items(body.get("trades"), "trade", "$.trades")]
        except MappingError as exc:
            exc.interface = INCREMENT_METHOD
            raise

        rows: list[tuple[str | None, int | None]] = []
        selected: list[tuple[Any, str | None]] = []
        unmapped: list[UnmappedOrder] = []
        for index, item in enumerate(items):
            tid = trade_id_of(item)
            try:
                modified = parse_time(
                    item.get("modified") if isinstance(item, dict) else None,
                    f"$.trades[{index}].modified",
                )
            except MappingError as exc:
                rows.append((tid, None))
                unmapped.append(UnmappedOrder(platform_order_id=tid, reason=exc.message, raw=item))
                continue
            second = _epoch(modified)
            rows.append((tid, second))
            if not (window.start <= modified < window.end) or second > cursor.anchor:
                continue  # another window's, or read on an earlier page
            if tid is not None and tid in cursor.seen:
                continue
            selected.append((item, tid))

        next_cursor = cursor.advance(
            rows, has_next=self._has_next(body, cursor.page, len(items)), floor=floor
        )
        orders, failed = await self._orders_for(selected)
        return OrderPage(
            orders=orders,
            unmapped=unmapped + failed,
            next_page=next_cursor.encode() if next_cursor is not None else None,
        )

    def _has_next(self, body: Mapping[str, Any], page_no: int, count: int) -> bool:
        return _has_next(body, page_no, self.page_size, count)

    async def _orders_for(
        self, rows: Sequence[tuple[Any, str | None]]
    ) -> tuple[list[Order], list[UnmappedOrder]]:
        orders: list[Order] = []
        unmapped: list[UnmappedOrder] = []
        if self.order_detail == "list":
            for item, tid in rows:
                try:
                    orders.append(self.map_order(item))
                except MappingError as exc:
                    unmapped.append(
                        UnmappedOrder(platform_order_id=tid, reason=exc.message, raw=item)
                    )
            return orders, unmapped

        gate = asyncio.Semaphore(self.detail_concurrency)

        async def detail(tid: str) -> dict[str, Any]:
            async with gate:
                return await self._fullinfo(tid, TRADE_FIELDS)

        wanted: list[tuple[Any, str, str]] = []
        for item, tid in rows:
            try:
                if tid is None:
                    raise MappingError(
                        "$.tid: required id is missing", path="$.tid", platform=PLATFORM
                    )
                wanted.append((item, tid, _numeric_id(tid, "trade id")))
            except (MappingError, NotFound) as exc:
                unmapped.append(UnmappedOrder(platform_order_id=tid, reason=exc.message, raw=item))
        results = await asyncio.gather(
            *(detail(number) for _, _, number in wanted), return_exceptions=True
        )
        fatal = [
            r
            for r in results
            if isinstance(r, BaseException)
            and not isinstance(r, NotFound | MappingError | Rejected)
        ]
        if fatal:
            auth = [r for r in fatal if isinstance(r, AuthExpired)]
            raise (auth or fatal)[0]
        for (item, tid, _), result in zip(wanted, results, strict=True):
            if isinstance(result, NotFound):
                unmapped.append(
                    UnmappedOrder(
                        platform_order_id=tid, reason=f"listed, but {result.message}", raw=item
                    )
                )
            elif isinstance(result, ConnectorError):
                unmapped.append(
                    UnmappedOrder(platform_order_id=tid, reason=result.message, raw=item)
                )
            elif isinstance(result, dict):
                try:
                    orders.append(self.map_order(result))
                except MappingError as exc:
                    unmapped.append(
                        UnmappedOrder(platform_order_id=tid, reason=exc.message, raw=result)
                    )
        return orders, unmapped

    async def _fullinfo(self, tid: str, fields: str) -> dict[str, Any]:
        body = await self.api.call(FULLINFO_METHOD, {"fields": fields, "tid": tid})
        trade = body.get("trade")
        if trade is None or trade == {}:
            raise NotFound(
                f"trade {tid} not found",
                platform=PLATFORM,
                interface=FULLINFO_METHOD,
                code="no_trade",
            )
        if not isinstance(trade, dict):
            raise MappingError(
                "$.trade: not a JSON object",
                path="$.trade",
                platform=PLATFORM,
                interface=FULLINFO_METHOD,
            )
        return trade

    async def get_order(self, platform_order_id: str) -> Order:
        """`taobao.trade.fullinfo.get`; `NotFound` without a call for an id that is not one."""
        tid = _numeric_id(platform_order_id, "trade id", FULLINFO_METHOD)
        return self.map_order(await self._fullinfo(tid, TRADE_FIELDS))

    def map_order(self, payload: Any) -> Order:
        """The pure mapping of one TOP trade (see `mapping.map_order`)."""
        return map_order(payload, shop_id=self.shop.shop_id)

    # ------------------------------------------------------------------ shipments

    async def confirm_shipment(
        self, platform_order_id: str, shipment: ShipmentRequest
    ) -> ShipmentResult:
        """`taobao.logistics.offline.send` (the seller's own courier): all that is left to
        ship, or whole sub-orders (`is_split=1`, `sub_tid`).

        The trade is read first, so a trade that may not ship (unpaid, closed,
        `PAID_FORBID_CONSIGN`, cash on delivery) or a line that cannot (unknown, already
        shipped, refunded, or only part of its quantity) is refused with the reason before
        anything is sent.
        """
        interface = OFFLINE_SEND_METHOD
        company = taobao_company_code(shipment.carrier_code, overrides=self.carrier_codes)
        tracking = shipment.tracking_number.strip()
        if not tracking:
            raise _rejected("a tracking number is required", interface, "no_tracking_number")
        if (
            any(not c.isprintable() or c.isspace() or c == "," for c in tracking)
            or len(tracking) > 64
        ):
            raise _rejected(
                "the tracking number must be one waybill number (no spaces or commas)",
                interface,
                "bad_tracking_number",
            )
        wanted: dict[str, int] = {}
        for line in shipment.lines:
            if line.quantity <= 0:
                raise _rejected(
                    f"line {line.line_id}: quantity must be positive", interface, "bad_quantity"
                )
            wanted[line.line_id.strip()] = wanted.get(line.line_id.strip(), 0) + line.quantity
        tid = _numeric_id(platform_order_id, "trade id", interface)
        trade = await self._fullinfo(tid, CONSIGN_FIELDS)
        sub_tids = self._consign_plan(trade, wanted, interface)
        params: dict[str, str | None] = {"tid": tid, "out_sid": tracking, "company_code": company}
        if sub_tids is not None:
            params["is_split"] = "1"
            params["sub_tid"] = ",".join(sub_tids)
        body = await self.api.call(interface, params)
        shipping = body.get("shipping")
        if not isinstance(shipping, dict):
            raise MappingError(
                "$.shipping: response has no shipping object",
                path="$.shipping",
                platform=PLATFORM,
                interface=interface,
            )
        if _str_bool(shipping.get("is_success")) is False:
            raise _rejected(
                "Taobao did not accept the shipment (is_success=false)", interface, "not_accepted"
            )
        return ShipmentResult(platform_shipment_id=None, raw=shipping)

    @staticmethod
    def _consign_plan(
        trade: Mapping[str, Any], wanted: Mapping[str, int], interface: str
    ) -> list[str] | None:
        """The sub-orders to name in `sub_tid`, or None to ship the whole trade."""
        status = trade.get("status")
        if trade.get("type") == "cod":
            raise _rejected(
                "cash-on-delivery trades ship with taobao.logistics.online.send, which this "
                "connector does not call",
                interface,
                "cod_trade",
            )
        if status not in statuses.SHIPPABLE_STATUSES:
            if status == "PAID_FORBID_CONSIGN":
                why = (
                    "Taobao forbids shipping this trade for now (PAID_FORBID_CONSIGN); "
                    "retry once it is WAIT_SELLER_SEND_GOODS"
                )
            elif status in statuses.UNPAID_STATUSES or status == "WAIT_PRE_AUTH_CONFIRM":
                why = f"the trade is not paid ({status}); it must not ship"
            elif status in ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"):
                why = f"the trade is closed ({status}); it must not ship"
            elif status in statuses.SHIPPED_STATUSES:
                why = f"the trade has already shipped ({status})"
            else:
                why = f"a trade in status {status!r} cannot be shipped"
            raise _rejected(why, interface, "not_shippable")
        open_ids: list[str] = []
        quantities: dict[str, int] = {}
        done: dict[str, str] = {}
        try:
            nodes = list_items(trade.get("orders"), "order", "$.orders")
        except MappingError as exc:
            exc.interface = interface
            raise
        for item, _ in nodes:
            oid = sub_order_id_of(item)
            if oid is None or not isinstance(item, dict):
                continue
            sub_status = item.get("status") or status
            refund = item.get("refund_status")
            num = item.get("num")
            quantities[oid] = num if isinstance(num, int) and not isinstance(num, bool) else 0
            if sub_status in ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO") or refund == "SUCCESS":
                done[oid] = "closed (refunded)"
            elif sub_status in statuses.SHIPPED_STATUSES:
                done[oid] = "already shipped"
            elif sub_status == "WAIT_SELLER_SEND_GOODS":
                open_ids.append(oid)
            else:
                done[oid] = f"in status {sub_status}"
        if not wanted:
            if not quantities:
                return None  # no sub-orders listed: ship the trade as a whole
            if not open_ids:
                raise _rejected(
                    "nothing is left to ship on this trade", interface, "nothing_to_ship"
                )
            return open_ids if done else None
        for line_id, quantity in wanted.items():
            if line_id in done:
                raise _rejected(
                    f"line {line_id} cannot ship: it is {done[line_id]}", interface, "line_not_open"
                )
            if line_id not in quantities:
                raise _rejected(
                    f"line {line_id} is not a sub-order of this trade", interface, "line_not_open"
                )
            if quantity != quantities[line_id]:
                raise _rejected(
                    f"line {line_id}: Taobao ships whole sub-orders; {quantity} of "
                    f"{quantities[line_id]} units requested, confirm the whole sub-order",
                    interface,
                    "partial_quantity",
                )
        if set(wanted) == set(open_ids) and not done:
            return None
        return [oid for oid in open_ids if oid in wanted]

    # ------------------------------------------------------------------ privacy shipping

    def receiver_ref(self, order: Order) -> str | None:
        """The trade's OAID (`receiver.oaid`, mapped from `oaid`)."""
        receiver = order.receiver
        if receiver is None or not receiver.oaid or not receiver.oaid.strip():
            return None
        return receiver.oaid.strip()

    async def issue_waybill(self, request: WaybillRequest) -> WaybillResult:
        """`cainiao.waybill.ii.get` for one package: OAID + tid as the recipient (no
        plaintext, not even masked), `cp_code` from the unified carrier code, the print
        data returned untouched (`cainiao-cloudprint`). Cainiao answers the same waybill
        again for the same trade and package id."""
        interface = WAYBILL_METHOD
        tid = _numeric_id(request.platform_order_id, "trade id", interface)
        if not request.receiver_ref.strip():
            raise _rejected(
                "the trade has no OAID; read it again (taobao.trade.fullinfo.get) to get one",
                interface,
                "no_receiver_ref",
            )
        code = request.carrier_code.strip().upper()
        cp_code = self.waybill_cp_codes.get(code) or taobao_company_code(
            code, overrides=self.carrier_codes
        )
        param = waybill_param(request, tid=tid, cp_code=cp_code, order_channel=self.order_channel)
        body = await self.api.call(
            interface, {"param_waybill_cloud_print_apply_new_request": param}
        )
        return parse_waybill(body, object_id=request.package.id, cp_code=cp_code)

    async def decrypt_receivers(self, queries: Sequence[ReceiverQuery]) -> list[DecryptedReceiver]:
        """`taobao.top.oaid.decrypt`, 20 queries per call. A stale OAID comes back
        `matched=False` without personal fields."""
        tids = [_numeric_id(q.platform_order_id, "trade id", DECRYPT_METHOD) for q in queries]
        results: list[DecryptedReceiver] = []
        for start in range(0, len(queries), DECRYPT_BATCH):
            batch = list(queries[start : start + DECRYPT_BATCH])
            batch_tids = tids[start : start + DECRYPT_BATCH]
            body = await self.api.call(
                DECRYPT_METHOD,
                {"query_list": decrypt_param(batch, batch_tids, self.secret_no_days)},
            )
            results.extend(parse_decrypted(body, batch, batch_tids))
        return results

    # ------------------------------------------------------------------ listings

    async def pull_listings(self, page: str | None = None) -> ListingPage:
        """One page of items on sale (`taobao.items.onsale.get`, `page_no` paging, oldest
        listing first) with their SKUs (`taobao.item.skus.get`, 40 items per call): one
        listing per SKU, or per item without SKUs.

        `taobao.items.onsale.get` documents no SKU fields and answers `total_results` (no
        `has_next`), so every item of the page is asked for its SKUs; an item that has none
        is a listing itself. An item or SKU row the mapping cannot read is skipped and
        logged (without values); the rest of the page is returned.
        """
        page_no = 1 if page is None else decode_listing_page(page)
        size = self.listing_page_size
        body = await self.api.call(
            ONSALE_METHOD,
            {
                "fields": ITEM_FIELDS,
                "page_no": str(page_no),
                "page_size": str(size),
                "order_by": "list_time:asc",
            },
        )
        try:
            items = [item for item, _ in list_items(body.get("items"), "item", "$.items")]
        except MappingError as exc:
            exc.interface = ONSALE_METHOD
            raise
        ids = list(dict.fromkeys(i for i in map(item_id_of, items) if i is not None))
        skus: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(ids), SKUS_BATCH):
            answer = await self.api.call(
                SKUS_METHOD,
                {"fields": SKU_FIELDS, "num_iids": ",".join(ids[start : start + SKUS_BATCH])},
            )
            try:
                rows = [row for row, _ in list_items(answer.get("skus"), "sku", "$.skus")]
            except MappingError as exc:
                exc.interface = SKUS_METHOD
                raise
            for owner, found in group_skus(rows).items():
                skus.setdefault(owner, []).extend(found)
        listings: list[Listing] = []
        for index, item in enumerate(items):
            num_iid = item_id_of(item)
            try:
                listings += map_item_listings(
                    item, skus.get(num_iid or "", []), f"$.items[{index}]"
                )
            except MappingError as exc:
                log.warning(
                    "taobao.listing_unmapped",
                    shop_id=self.shop.shop_id,
                    num_iid=num_iid,
                    reason=exc.message,
                )
        more = bool(items) and _has_next(body, page_no, size, len(items))
        return ListingPage(
            listings=listings, next_page=encode_listing_page(page_no + 1) if more else None
        )

    # ------------------------------------------------------------------ stock

    async def update_stock(self, updates: list[StockUpdate]) -> list[StockUpdateResult]:
        """`taobao.item.quantity.update` with `type=1` (set, not add) for each update:
        `num_iid` = `platform_listing_id`, `sku_id` = `platform_sku_id` (item-level stock when
        absent). Each update stands alone; an `AuthExpired` stops all. Taobao item stock is one
        number per SKU, so `location_id` is not used."""
        results: list[StockUpdateResult] = []
        for update in updates:
            try:
                await self._set_quantity(update)
            except AuthExpired:
                raise
            except ConnectorError as exc:
                results.append(StockUpdateResult(update, ok=False, error=str(exc)))
            else:
                results.append(StockUpdateResult(update, ok=True))
        return results

    async def _set_quantity(self, update: StockUpdate) -> None:
        interface = QUANTITY_METHOD
        if update.quantity < 0:
            raise _rejected("a stock quantity cannot be negative", interface, "bad_quantity")
        num_iid = self._listing_id(update.platform_listing_id, "platform_listing_id (num_iid)")
        sku_id = (
            self._listing_id(update.platform_sku_id, "platform_sku_id (sku_id)")
            if update.platform_sku_id
            else None
        )
        body = await self.api.call(
            interface,
            {"num_iid": num_iid, "sku_id": sku_id, "quantity": str(update.quantity), "type": "1"},
        )
        if not isinstance(body.get("item"), dict):
            raise MappingError(
                "$.item: response has no item object",
                path="$.item",
                platform=PLATFORM,
                interface=interface,
            )

    @staticmethod
    def _listing_id(value: str, what: str) -> str:
        text = value.strip()
        if not text.isdigit() or not text.isascii() or len(text) > 19:
            raise _rejected(
                f"{what} must be a Taobao numeric id", QUANTITY_METHOD, "bad_listing_id"
            )
        return text

    # ------------------------------------------------------------------ push (TMC)

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> list[PushMessage]:
        """Messages forwarded by a ShopBridge TMC relay (see `push.py`; real TMC is a channel,
        read with `consume_messages`)."""
        credentials = self.shop.credentials
        secrets = [
            value
            for value in (credentials.get("app_secret"), credentials.get("previous_app_secret"))
            if isinstance(value, str) and value
        ]
        return parse_relay(headers, body, secrets=secrets, seller_user_id=self.seller_user_id)

    async def consume_messages(
        self, group_name: str | None = None, quantity: int = 100
    ) -> list[PushMessage]:
        """Pull up to `quantity` (10..200) TMC messages with `taobao.tmc.messages.consume`.

        Every message with an id is returned, including topics this connector does not handle
        (their `platform_order_id` is None), so the caller can confirm all of them with
        `confirm_messages` once processed; TMC redelivers what is not confirmed. A message
        without a readable id cannot be confirmed and is skipped (logged, without content).
        A TMC group holds the messages of every seller in it: give each shop its own group
        (`settings.tmc_group`) or route on `raw["user_id"]`.
        """
        group = group_name or self.tmc_group
        size = max(TMC_MIN_QUANTITY, min(TMC_MAX_QUANTITY, quantity))
        body = await self.api.call(
            TMC_CONSUME_METHOD, {"group_name": group, "quantity": str(size)}, session=False
        )
        try:
            items = list_items(body.get("messages"), "tmc_message", "$.messages")
        except MappingError as exc:
            exc.interface = TMC_CONSUME_METHOD
            raise
        messages: list[PushMessage] = []
        for item, _ in items:
            try:
                message, problem = consumed_message(item)
            except TmcMessageError as exc:
                log.warning(
                    "taobao.tmc_message_skipped", shop_id=self.shop.shop_id, reason=str(exc)
                )
                continue
            if problem is not None:
                log.warning(
                    "taobao.tmc_message_unreadable",
                    shop_id=self.shop.shop_id,
                    message_id=message.message_id,
                    reason=problem,
                )
            messages.append(message)
        return messages

    async def confirm_messages(self, ids: Sequence[str], group_name: str | None = None) -> None:
        """Acknowledge processed TMC messages (`taobao.tmc.messages.confirm`, 200 per call)."""
        group = group_name or self.tmc_group
        clean = [i.strip() for i in ids if i and i.strip()]
        for start in range(0, len(clean), TMC_CONFIRM_BATCH):
            batch = clean[start : start + TMC_CONFIRM_BATCH]
            body = await self.api.call(
                TMC_CONFIRM_METHOD,
                {"s_message_ids": ",".join(batch), "group_name": group},
                session=False,
            )
            if _str_bool(body.get("is_success")) is False:
                raise _rejected(
                    "TMC did not confirm the messages", TMC_CONFIRM_METHOD, "not_confirmed"
                )

    async def poll_channel(self) -> list[PushMessage]:
        return await self.consume_messages()

    async def ack_channel(self, message_ids: list[str]) -> None:
        await self.confirm_messages(message_ids)

    async def aclose(self) -> None:
        await self.api.aclose()
