"""In-memory state of one emulated Taobao/Tmall shop, and the platform's business rules.

This is the sandbox's "backend": items with SKUs and stock, trades (``Trade``) with their
sub-orders (``Order``), shipments, refunds and the stock changes clients made. Every
mutation applies TOP's rules (trade/sub-order statuses, presale stages, split shipping,
refund lifecycle, stock reservation) and announces itself as a :class:`DomainEvent`
named after the TMC topic it produces; the TMC publisher turns those into messages.

Money is :class:`~decimal.Decimal` rounded to fen; times are timezone-aware UTC with whole
seconds (rendering converts them to GMT+8). Nothing here knows about HTTP. Buyer data
lives only in memory and is masked whenever it is rendered; it is never logged.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Literal

from shopbridge.sandbox.common.clock import Clock
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.taobao.options import TaobaoSandboxOptions

# Taobao's own wording of the "already shipped or closed" error (B04), with its full-width comma.
B04_MSG = "订单状态不对该物流订单已经发货或者已关闭\uff0c不能重复发货"

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Round to fen, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# ---------------------------------------------------------------------------------------
# statuses

TRADE_STATUSES: tuple[str, ...] = (
    "TRADE_NO_CREATE_PAY",
    "WAIT_BUYER_PAY",
    "PAY_PENDING",
    "WAIT_PRE_AUTH_CONFIRM",
    "PAID_FORBID_CONSIGN",
    "WAIT_SELLER_SEND_GOODS",
    "SELLER_CONSIGNED_PART",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "TRADE_CLOSED",
    "TRADE_CLOSED_BY_TAOBAO",
)
UNPAID_STATUSES = frozenset(
    ("TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM")
)
SHIPPABLE_STATUSES = frozenset(("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"))
PSEUDO_STATUSES: dict[str, frozenset[str]] = {
    "ALL_WAIT_PAY": frozenset(("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY")),
    "ALL_CLOSED": frozenset(("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO")),
}
STEP_STATUSES: tuple[str, ...] = (
    "FRONT_NOPAID_FINAL_NOPAID",
    "FRONT_PAID_FINAL_NOPAID",
    "FRONT_PAID_FINAL_PAID",
)
REFUND_STATUSES: tuple[str, ...] = (
    "WAIT_SELLER_AGREE",
    "WAIT_BUYER_RETURN_GOODS",
    "WAIT_SELLER_CONFIRM_GOODS",
    "SELLER_REFUSE_BUYER",
    "CLOSED",
    "SUCCESS",
)
ACTIVE_REFUND_STATUSES = frozenset(
    ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS")
)
TRADE_TYPES: tuple[str, ...] = (
    "fixed",
    "auction",
    "step",
    "cod",
    "ec",
    "auto_delivery",
    "tmall_i18n",
    "pre_auth_type",
)
# What each ``type`` query value selects (``guarantee_trade`` = fixed price and auction).
TYPE_ALIASES: dict[str, frozenset[str]] = {
    "guarantee_trade": frozenset(("fixed", "auction")),
}
DEFAULT_QUERY_TYPES = "guarantee_trade,auto_delivery,ec,cod,step"

TradeType = Literal[
    "fixed", "auction", "step", "cod", "ec", "auto_delivery", "tmall_i18n", "pre_auth_type"
]
InitialStatus = Literal[
    "WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"
]


# ---------------------------------------------------------------------------------------
# errors


class StateError(Exception):
    """A business-rule violation, expressed the way TOP reports it.

    ``code``/``msg`` are the platform error (15 "Remote service error" for business
    errors, 41 "Invalid arguments" for bad values); ``sub_code``/``sub_msg`` the detail.
    """

    def __init__(
        self,
        sub_code: str,
        sub_msg: str,
        *,
        code: int = 15,
        msg: str = "Remote service error",
    ) -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg


class NotFoundError(StateError):
    """The addressed trade, refund, item or SKU does not exist."""


def invalid_argument(name: str, sub_msg: str | None = None) -> StateError:
    """TOP's code 41 for a parameter value that is malformed or out of range."""
    return StateError(
        f"isv.invalid-parameter:{name}",
        sub_msg or f"参数{name}无效",
        code=41,
        msg=f"Invalid arguments:{name}",
    )


# ---------------------------------------------------------------------------------------
# ids


_ID_BASES: dict[str, tuple[int, int, int]] = {
    # kind: (first id, min step, max step). Trade and refund ids are above 2**53 on
    # purpose, as on Taobao: clients must use tid_str/oid_str or 64-bit integers.
    "tid": (3_981_204_512_306_000_000, 10_000, 9_000_000),
    "refund": (182_340_912_300_000_000, 1_000, 900_000),
    "num_iid": (712_348_900_000, 10_000, 9_000_000),
    "sku": (5_102_340_000_000, 1_000, 900_000),
    "shipment": (9_000_001, 1, 1),
    "tmc": (7_120_438_812_000_000_000, 1, 40),
}


class IdAllocator:
    """Increasing int64 ids per kind with realistic, deterministic gaps."""

    def __init__(self, rng: DeterministicRandom) -> None:
        self._rng = rng
        self._last: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, kind: str) -> int:
        first, low, high = _ID_BASES[kind]
        with self._lock:
            last = self._last.get(kind)
            value = first if last is None else last + self._rng.randint(low, high)
            self._last[kind] = value
            return value


# ---------------------------------------------------------------------------------------
# catalog


@dataclass
class Sku:
    sku_id: int
    num_iid: int
    outer_id: str
    properties: str
    """``pid:vid`` pairs, e.g. ``1627207:28320``."""
    properties_name: str
    """``pid:vid:name:value`` pairs, e.g. ``1627207:28320:颜色分类:黑色``."""
    price: Decimal
    quantity: int
    created: datetime
    modified: datetime
    with_hold_quantity: int = 0

    @property
    def sku_properties_name(self) -> str:
        """The ``name:value;name:value`` form trades use (``颜色分类:黑色``)."""
        parts = []
        for pair in self.properties_name.split(";"):
            bits = pair.split(":")
            if len(bits) >= 4:
                parts.append(f"{bits[2]}:{bits[3]}")
        return ";".join(parts)


@dataclass
class Item:
    num_iid: int
    title: str
    outer_id: str
    price: Decimal
    cid: int
    pic_url: str
    created: datetime
    modified: datetime
    list_time: datetime
    delist_time: datetime
    skus: list[Sku] = field(default_factory=list)
    quantity: int = 0
    """Item-level stock, used only when the item has no SKUs."""
    sold_quantity: int = 0
    approve_status: str = "onsale"
    item_type: str = "fixed"

    @property
    def num(self) -> int:
        return sum(s.quantity for s in self.skus) if self.skus else self.quantity

    def sku(self, sku_id: int) -> Sku:
        for sku in self.skus:
            if sku.sku_id == sku_id:
                return sku
        raise NotFoundError("isv.sku-not-exist", f"SKU {sku_id}不存在")


# ---------------------------------------------------------------------------------------
# buyers


@dataclass(frozen=True)
class Receiver:
    """Plain-text recipient. Only ever rendered masked (plus an OAID)."""

    name: str
    mobile: str
    phone: str | None
    state: str
    city: str
    district: str
    town: str
    address: str
    zip: str
    country: str = ""

    def fingerprint(self, salt: str) -> bytes:
        text = "|".join(
            (salt, self.name, self.mobile, self.state, self.city, self.district, self.address)
        )
        return hashlib.sha256(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class Buyer:
    open_uid: str
    nick: str
    receiver: Receiver
    email: str | None = None


# ---------------------------------------------------------------------------------------
# trades


@dataclass
class Order:
    """A sub-order (子订单): one SKU line of a trade."""

    oid: int
    num_iid: int
    sku_id: int | None
    outer_iid: str
    outer_sku_id: str | None
    title: str
    pic_path: str
    cid: int
    price: Decimal
    num: int
    sku_properties_name: str
    status: str
    seller_type: str
    discount_fee: Decimal = ZERO
    adjust_fee: Decimal = ZERO
    part_mjz_discount: Decimal = ZERO
    refund_status: str = "NO_REFUND"
    refund_id: int | None = None
    logistics_company: str | None = None
    invoice_no: str | None = None
    consign_time: datetime | None = None
    end_time: datetime | None = None
    shipping_type: str | None = None
    is_oversold: bool = False
    buyer_rate: bool = False
    seller_rate: bool = False

    @property
    def gross(self) -> Decimal:
        return cents(self.price * self.num)

    @property
    def total_fee(self) -> Decimal:
        """price * num + adjust_fee - discount_fee (sub-order level)."""
        return cents(self.gross + self.adjust_fee - self.discount_fee)

    @property
    def divide_order_fee(self) -> Decimal:
        """What the buyer paid for this sub-order after trade-level discounts."""
        return cents(self.total_fee - self.part_mjz_discount)

    @property
    def shipped(self) -> bool:
        return self.consign_time is not None

    @property
    def closed(self) -> bool:
        return self.status in ("TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO")


@dataclass
class Invoice:
    kind: str
    """``1`` electronic, ``2`` paper, ``3`` special VAT invoice."""
    name: str
    """Invoice title (抬头)."""
    type: str
    """Invoice content type, e.g. ``明细``."""


@dataclass
class Trade:
    tid: int
    type: str
    status: str
    created: datetime
    modified: datetime
    buyer: Buyer
    orders: list[Order]
    oaid: str
    post_fee: Decimal
    discount_fee: Decimal
    """Trade-level discount (shop coupon, 满减), apportioned to sub-orders."""
    shipping_type: str
    trade_from: str
    alipay_no: str
    adjust_fee: Decimal = ZERO
    pay_time: datetime | None = None
    consign_time: datetime | None = None
    end_time: datetime | None = None
    buyer_message: str | None = None
    seller_memo: str | None = None
    seller_flag: int = 0
    invoice: Invoice | None = None
    step_trade_status: str | None = None
    step_paid_fee: Decimal | None = None
    deposit: Decimal | None = None
    """Presale (``step``) deposit; the balance is ``payment - deposit``."""
    send_time: datetime | None = None
    forbid_consign: bool = False
    """Group-buy style trade: paid but shipping forbidden until released."""
    is_part_consign: bool = False
    refunded_fee: Decimal = ZERO
    privacy_protection: bool = False
    """The buyer chose a privacy number (隐私号): OAID decryption returns a virtual mobile
    number with an extension instead of the real one."""
    previous_oaids: list[str] = field(default_factory=list)
    """OAIDs this trade had before its recipient changed: they no longer match (decrypt
    answers ``matched=false``)."""

    @property
    def total_fee(self) -> Decimal:
        """商品金额: sum of price * num of every sub-order."""
        return cents(sum((o.gross for o in self.orders), ZERO))

    @property
    def payment(self) -> Decimal:
        """实付金额: sub-order totals minus the trade-level discount plus postage."""
        orders = sum((o.total_fee for o in self.orders), ZERO)
        return cents(orders - self.discount_fee + self.post_fee + self.adjust_fee)

    @property
    def received_payment(self) -> Decimal:
        """Money released to the seller (after the buyer confirmed receipt)."""
        if self.status != "TRADE_FINISHED":
            return ZERO
        return cents(max(ZERO, self.payment - self.refunded_fee))

    @property
    def is_paid(self) -> bool:
        return self.status not in UNPAID_STATUSES and self.status != "TRADE_CLOSED_BY_TAOBAO"

    def order(self, oid: int) -> Order:
        for order in self.orders:
            if order.oid == oid:
                return order
        raise NotFoundError("isv.trade-not-exist", f"子订单{oid}不存在")

    def order_payment(self, order: Order) -> Decimal:
        """Order.payment: with several sub-orders their own total, else the trade's."""
        return self.payment if len(self.orders) == 1 else order.total_fee


@dataclass
class Shipment:
    """One consignment (发货) of some sub-orders, by a client or by the sandbox."""

    id: int
    tid: int
    oids: list[int]
    api: str
    """``taobao.logistics.offline.send`` etc., or ``sandbox`` / ``stream``."""
    company_code: str | None
    company_name: str | None
    out_sid: str | None
    is_split: bool
    feature: str | None
    created: datetime
    confirmed: bool = True
    """False for an online booking without tracking number (until online.confirm)."""
    trade_status_after: str = ""


@dataclass
class Refund:
    refund_id: int
    tid: int
    oid: int
    status: str
    refund_fee: Decimal
    total_fee: Decimal
    """What the buyer paid for the sub-order."""
    has_good_return: bool
    good_status: str
    reason: str
    desc: str
    refund_phase: str
    created: datetime
    modified: datetime
    order_status: str
    title: str
    price: Decimal
    num: int
    num_iid: int
    sku: str
    outer_id: str
    company_name: str | None = None
    sid: str | None = None
    good_return_time: datetime | None = None

    @property
    def refund_version(self) -> int:
        return int(self.modified.timestamp() * 1000)


@dataclass
class StockChange:
    """One stock change a client made through the gateway (read by the control API)."""

    recorded_at: datetime
    api: str
    num_iid: int
    sku_id: int | None
    outer_id: str | None
    update_type: int
    """1 = full (overwrite), 2 = incremental."""
    requested: int
    previous: int
    quantity: int


# ---------------------------------------------------------------------------------------
# carriers


@dataclass(frozen=True)
class Carrier:
    id: int
    code: str
    name: str
    reg_mail_no: str
    """Regular expression a tracking number must match (``reg_mail_no``)."""
    recommended: bool = True


# Codes confirmed by real integrations: SF, ZTO, YTO, STO, YUNDA, POSTB, ZJS, POST (see
# docs/sandboxes.md). EMS, JD, DBL/DBKD (Deppon), HTKY (Best) and JTSD (J&T) are the
# commonly used codes, not confirmed from Taobao's own list. Ids are the sandbox's own.
CARRIERS: tuple[Carrier, ...] = (
    Carrier(505, "SF", "顺丰速运", r"^(SF\d{13}|\d{12})$"),
    Carrier(500, "ZTO", "中通快递", r"^(7[3-8]\d{12})$"),
    Carrier(101, "YTO", "圆通速递", r"^YT\d{13}$"),
    Carrier(100, "STO", "申通快递", r"^(77|43)\d{10,13}$"),
    Carrier(102, "YUNDA", "韵达快递", r"^([34]\d{14}|5\d{12})$"),
    Carrier(2, "EMS", "EMS", r"^([189]\d{12}|[A-Z]{2}\d{9}CN)$"),
    Carrier(2170, "POSTB", "邮政快递包裹", r"^([189]\d{12}|[A-Z]{2}\d{9}CN)$"),
    Carrier(3, "POST", "中国邮政", r"^([A-Z0-9]{8,20})$", recommended=False),
    Carrier(2087, "JD", "京东快递", r"^JD[A-Z0-9]{2}\d{11}$"),
    Carrier(5000000110730, "DBKD", "德邦快递", r"^DPK\d{12}$"),
    Carrier(1216000000000, "DBL", "德邦物流", r"^(DPK\d{12}|\d{8,10})$", recommended=False),
    Carrier(1259, "ZJS", "宅急送", r"^[A-Z0-9]{10,13}$", recommended=False),
    Carrier(3000000001, "HTKY", "百世快递", r"^(A|B|\d)\d{11,13}$", recommended=False),
    Carrier(6000000001, "JTSD", "极兔速递", r"^JT\d{13}$"),
)
CARRIERS_BY_CODE: dict[str, Carrier] = {c.code: c for c in CARRIERS}


# ---------------------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class DomainEvent:
    """A change the TMC publisher turns into a message; ``topic`` is the TMC topic."""

    topic: str
    occurred_at: datetime
    tid: int
    oid: int | None = None
    refund_id: int | None = None


Listener = Callable[[DomainEvent], None]


# ---------------------------------------------------------------------------------------
# drafts (what a new trade is made of)


@dataclass
class LineDraft:
    num_iid: int
    sku_id: int | None
    num: int
    price: Decimal | None = None
    """Unit price; default = the SKU's (or item's) price."""
    discount_fee: Decimal = ZERO
    """Sub-order level discount (单品优惠)."""


@dataclass
class TradeDraft:
    lines: list[LineDraft]
    buyer: Buyer
    type: TradeType = "fixed"
    post_fee: Decimal = ZERO
    discount_fee: Decimal = ZERO
    buyer_message: str | None = None
    seller_memo: str | None = None
    seller_flag: int = 0
    invoice: Invoice | None = None
    initial_status: InitialStatus = "WAIT_BUYER_PAY"
    forbid_consign: bool = False
    deposit: Decimal | None = None
    shipping_type: str = "express"
    trade_from: str = "WAP,WAP"
    privacy_protection: bool = False


# ---------------------------------------------------------------------------------------
# the shop


class TaobaoState:
    """All data of one sandbox shop. Thread-safe: every public mutation takes ``lock``."""

    def __init__(
        self, options: TaobaoSandboxOptions, clock: Clock, rng: DeterministicRandom
    ) -> None:
        self.options = options
        self.clock = clock
        self.rng = rng
        self.ids = IdAllocator(rng.child("ids"))
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._emit_enabled = True
        self._alipay_seq = rng.child("alipay")
        self.items: dict[int, Item] = {}
        self.trades: dict[int, Trade] = {}
        self.refunds: dict[int, Refund] = {}
        self.shipments: list[Shipment] = []
        self.stock_changes: list[StockChange] = []
        self._sku_index: dict[int, Item] = {}

    # plumbing ----------------------------------------------------------------------

    def now(self) -> datetime:
        return whole_seconds(self.clock.now())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Apply changes without publishing messages (used for seeding history)."""
        with self.lock:
            previous = self._emit_enabled
            self._emit_enabled = False
            try:
                yield
            finally:
                self._emit_enabled = previous

    def _emit(
        self,
        topic: str,
        trade: Trade,
        at: datetime,
        *,
        oid: int | None = None,
        refund_id: int | None = None,
    ) -> None:
        if not self._emit_enabled:
            return
        event = DomainEvent(topic, at, trade.tid, oid, refund_id)
        for listener in list(self._listeners):
            listener(event)

    def _at(self, at: datetime | None) -> datetime:
        return whole_seconds(at) if at is not None else self.now()

    @staticmethod
    def _touch(trade: Trade, at: datetime) -> None:
        trade.modified = max(trade.modified, at)

    # lookups -----------------------------------------------------------------------

    def trade(self, tid: int) -> Trade:
        trade = self.trades.get(tid)
        if trade is None:
            raise NotFoundError("isv.trade-not-exist", "交易订单不存在")
        return trade

    def refund(self, refund_id: int) -> Refund:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise NotFoundError("isv.refund-not-exist", "退款单不存在")
        return refund

    def item(self, num_iid: int) -> Item:
        item = self.items.get(num_iid)
        if item is None:
            raise NotFoundError("isv.item-not-exist:invalid-numIid", f"商品{num_iid}不存在")
        return item

    def item_of_sku(self, sku_id: int) -> Item:
        item = self._sku_index.get(sku_id)
        if item is None:
            raise NotFoundError("isv.sku-not-exist", f"SKU {sku_id}不存在")
        return item

    def find_sku_by_outer_id(self, outer_id: str) -> tuple[Item, Sku | None]:
        for item in self.items.values():
            for sku in item.skus:
                if sku.outer_id == outer_id:
                    return item, sku
            if not item.skus and item.outer_id == outer_id:
                return item, None
        raise NotFoundError("isv.sku-not-exist", f"商家编码{outer_id}不存在")

    def oaid_for(self, receiver: Receiver) -> str:
        """The OAID of a recipient: stable for the same recipient (mergeable trades)."""
        digest = receiver.fingerprint(f"{self.options.app_key}:{self.options.random_seed}")
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        number = int.from_bytes(digest, "big")
        chars: list[str] = []
        while len(chars) < 44:
            number, rest = divmod(number, 62)
            chars.append(alphabet[rest])
        return "1" + "".join(chars)

    def next_alipay_no(self, at: datetime) -> str:
        local = at.astimezone(self.options.zone)
        return f"{local:%Y%m%d}22001{self._alipay_seq.randint(10**14, 10**15 - 1)}"

    # catalog -----------------------------------------------------------------------

    def add_item(self, item: Item) -> None:
        with self.lock:
            self.items[item.num_iid] = item
            for sku in item.skus:
                self._sku_index[sku.sku_id] = item

    def _reserve(self, item: Item, sku: Sku | None, num: int, at: datetime) -> bool:
        """Take stock for a new trade (拍下减库存); return False when oversold."""
        if sku is not None:
            enough = sku.quantity >= num
            sku.quantity = max(0, sku.quantity - num)
            sku.modified = at
        else:
            enough = item.quantity >= num
            item.quantity = max(0, item.quantity - num)
        item.sold_quantity += num
        item.modified = at
        return enough

    def _release(self, order: Order, at: datetime) -> None:
        item = self.items.get(order.num_iid)
        if item is None:
            return
        if order.sku_id is not None:
            for sku in item.skus:
                if sku.sku_id == order.sku_id:
                    sku.quantity += order.num
                    sku.modified = at
        else:
            item.quantity += order.num
        item.sold_quantity = max(0, item.sold_quantity - order.num)
        item.modified = at

    def set_item_quantity(
        self,
        num_iid: int,
        *,
        sku_id: int | None,
        outer_id: str | None,
        quantity: int,
        update_type: int,
        api: str = "taobao.item.quantity.update",
    ) -> tuple[Item, Sku | None]:
        """``taobao.item.quantity.update``: full (1) or incremental (2) stock of an item
        or one of its SKUs (``sku_id`` wins over ``outer_id``)."""
        if update_type not in (1, 2):
            raise invalid_argument("type")
        if update_type == 1 and quantity < 0:
            raise invalid_argument("quantity", "全量更新时库存不能小于0")
        with self.lock:
            item = self.item(num_iid)
            sku: Sku | None = None
            if sku_id is not None:
                sku = item.sku(sku_id)
            elif outer_id:
                matches = [s for s in item.skus if s.outer_id == outer_id]
                if not matches:
                    raise NotFoundError("isv.sku-not-exist", f"商家编码{outer_id}对应的SKU不存在")
                sku = matches[0]
            elif item.skus:
                raise StateError(
                    "isv.item-quantity-item-update-service-error",
                    "商品有SKU, 请指定sku_id或outer_id",
                )
            previous = sku.quantity if sku is not None else item.quantity
            new = quantity if update_type == 1 else previous + quantity
            if new < 0:
                raise StateError(
                    "isv.item-quantity-item-update-service-error",
                    f"库存调整后不能小于0(当前{previous}, 调整{quantity})",
                )
            at = self.now()
            if sku is not None:
                sku.quantity = new
                sku.modified = at
            else:
                item.quantity = new
            item.modified = at
            self.stock_changes.append(
                StockChange(
                    at,
                    api,
                    item.num_iid,
                    sku.sku_id if sku else None,
                    sku.outer_id if sku else outer_id,
                    update_type,
                    quantity,
                    previous,
                    new,
                )
            )
            return item, sku

    def set_skus_quantities(
        self, num_iid: int, updates: Sequence[tuple[Sku, int]], update_type: int
    ) -> Item:
        """``taobao.skus.quantity.update``: several SKUs at once; incremental updates
        clamp at zero (full updates below zero are rejected before this is called)."""
        with self.lock:
            item = self.item(num_iid)
            at = self.now()
            for sku, quantity in updates:
                previous = sku.quantity
                new = quantity if update_type == 1 else max(0, previous + quantity)
                sku.quantity = new
                sku.modified = at
                self.stock_changes.append(
                    StockChange(
                        at,
                        "taobao.skus.quantity.update",
                        num_iid,
                        sku.sku_id,
                        sku.outer_id,
                        update_type,
                        quantity,
                        previous,
                        new,
                    )
                )
            item.modified = at
            return item

    # trades: creation and payment -------------------------------------------------------

    def create_trade(self, draft: TradeDraft, *, at: datetime | None = None) -> Trade:
        """Place a trade (buyer clicked "buy"): stock is reserved, status is unpaid."""
        if not draft.lines:
            raise invalid_argument("lines", "至少需要一个子订单")
        with self.lock:
            when = self._at(at)
            tid = self.ids.next("tid")
            seller_type = "B" if self.options.shop_type == "B" else "C"
            orders: list[Order] = []
            for index, line in enumerate(draft.lines):
                if line.num < 1:
                    raise invalid_argument("num")
                item = self.item(line.num_iid)
                sku = item.sku(line.sku_id) if line.sku_id is not None else None
                if sku is None and item.skus:
                    raise invalid_argument("sku_id", f"商品{item.num_iid}有SKU, 需指定sku_id")
                price = line.price if line.price is not None else (sku or item).price
                enough = self._reserve(item, sku, line.num, when)
                orders.append(
                    Order(
                        oid=tid if len(draft.lines) == 1 else tid + index + 1,
                        num_iid=item.num_iid,
                        sku_id=sku.sku_id if sku else None,
                        outer_iid=item.outer_id,
                        outer_sku_id=sku.outer_id if sku else None,
                        title=item.title,
                        pic_path=item.pic_url,
                        cid=item.cid,
                        price=cents(price),
                        num=line.num,
                        sku_properties_name=sku.sku_properties_name if sku else "",
                        status=draft.initial_status,
                        seller_type=seller_type,
                        discount_fee=cents(line.discount_fee),
                        is_oversold=not enough,
                    )
                )
            trade = Trade(
                tid=tid,
                type=draft.type,
                status=draft.initial_status,
                created=when,
                modified=when,
                buyer=draft.buyer,
                orders=orders,
                oaid=self.oaid_for(draft.buyer.receiver),
                post_fee=cents(draft.post_fee),
                discount_fee=cents(draft.discount_fee),
                shipping_type=draft.shipping_type,
                trade_from=draft.trade_from,
                alipay_no=self.next_alipay_no(when),
                buyer_message=draft.buyer_message,
                seller_memo=draft.seller_memo,
                seller_flag=draft.seller_flag,
                invoice=draft.invoice,
                forbid_consign=draft.forbid_consign,
                privacy_protection=draft.privacy_protection,
            )
            self._apportion(trade)
            if trade.payment < ZERO:
                raise invalid_argument("discount_fee", "优惠金额不能大于订单金额")
            if draft.type == "step":
                deposit = draft.deposit
                if deposit is None:
                    deposit = cents(trade.payment * Decimal("0.2"))
                if not ZERO < deposit < trade.payment:
                    raise invalid_argument("deposit", "定金必须大于0且小于订单金额")
                trade.deposit = cents(deposit)
                trade.step_trade_status = "FRONT_NOPAID_FINAL_NOPAID"
                trade.step_paid_fee = ZERO
                trade.send_time = when + timedelta(days=15)
            self.trades[tid] = trade
            self._emit("taobao_trade_TradeCreate", trade, when)
            return trade

    @staticmethod
    def _apportion(trade: Trade) -> None:
        """Spread the trade-level discount over sub-orders (part_mjz_discount)."""
        base = sum((o.total_fee for o in trade.orders), ZERO)
        remaining = trade.discount_fee
        for index, order in enumerate(trade.orders):
            if index == len(trade.orders) - 1 or base == ZERO:
                share = remaining
            else:
                share = (trade.discount_fee * order.total_fee / base).quantize(
                    CENT, rounding=ROUND_DOWN
                )
            order.part_mjz_discount = share
            remaining -= share

    def pay(self, tid: int, *, at: datetime | None = None) -> Trade:
        """The buyer pays. Presale trades pay their next stage (deposit, then balance)."""
        with self.lock:
            trade = self.trade(tid)
            if trade.type == "step" and trade.step_trade_status != "FRONT_PAID_FINAL_PAID":
                if trade.step_trade_status == "FRONT_NOPAID_FINAL_NOPAID":
                    return self.pay_deposit(tid, at=at)
                return self.pay_balance(tid, at=at)
            if trade.status not in UNPAID_STATUSES:
                raise StateError("isv.trade-status-error", f"交易状态{trade.status}不能付款")
            return self._paid(trade, self._at(at))

    def _paid(self, trade: Trade, when: datetime) -> Trade:
        trade.status = "PAID_FORBID_CONSIGN" if trade.forbid_consign else "WAIT_SELLER_SEND_GOODS"
        trade.pay_time = when
        for order in trade.orders:
            if not order.closed:
                order.status = "WAIT_SELLER_SEND_GOODS"
        self._touch(trade, when)
        self._emit("taobao_trade_TradeBuyerPay", trade, when)
        return trade

    def pay_deposit(self, tid: int, *, at: datetime | None = None) -> Trade:
        """Presale: the buyer pays the deposit (定金); the trade still waits for payment."""
        with self.lock:
            trade = self.trade(tid)
            if trade.type != "step" or trade.step_trade_status != "FRONT_NOPAID_FINAL_NOPAID":
                raise StateError("isv.trade-status-error", "该交易不是待付定金的预售交易")
            if trade.status != "WAIT_BUYER_PAY":
                raise StateError("isv.trade-status-error", f"交易状态{trade.status}不能付定金")
            when = self._at(at)
            trade.step_trade_status = "FRONT_PAID_FINAL_NOPAID"
            trade.step_paid_fee = trade.deposit
            self._touch(trade, when)
            self._emit("taobao_trade_TradeBuyerStepPay", trade, when)
            return trade

    def pay_balance(self, tid: int, *, at: datetime | None = None) -> Trade:
        """Presale: the buyer pays the balance (尾款); the trade is paid."""
        with self.lock:
            trade = self.trade(tid)
            if trade.type != "step" or trade.step_trade_status != "FRONT_PAID_FINAL_NOPAID":
                raise StateError("isv.trade-status-error", "该交易不是待付尾款的预售交易")
            when = self._at(at)
            trade.step_trade_status = "FRONT_PAID_FINAL_PAID"
            trade.step_paid_fee = trade.payment
            return self._paid(trade, when)

    def release(self, tid: int, *, at: datetime | None = None) -> Trade:
        """PAID_FORBID_CONSIGN -> WAIT_SELLER_SEND_GOODS (the group buy succeeded)."""
        with self.lock:
            trade = self.trade(tid)
            if trade.status != "PAID_FORBID_CONSIGN":
                raise StateError("isv.trade-status-error", "交易不是禁止发货状态")
            when = self._at(at)
            trade.status = "WAIT_SELLER_SEND_GOODS"
            trade.forbid_consign = False
            self._touch(trade, when)
            self._emit("taobao_trade_TradeChanged", trade, when)
            return trade

    # shipping ----------------------------------------------------------------------

    def consign(
        self,
        tid: int,
        *,
        api: str,
        company_code: str | None,
        out_sid: str | None,
        sub_tids: Sequence[int] | None = None,
        is_split: bool = False,
        feature: str | None = None,
        at: datetime | None = None,
        validate_out_sid: bool | None = None,
    ) -> Shipment:
        """Ship sub-orders (all shippable ones, or ``sub_tids`` when splitting).

        Errors use the sub-codes Taobao returns: ``...:B01`` no such trade, ``...:B04``
        already shipped / closed / not paid, ``...:B60`` bad tracking number, ``...:P38``
        split check failed. ``api`` selects the prefix
        (``isv.logistics-offline-service-error`` or ``...-online-...``).
        """
        prefix = (
            "isv.logistics-online-service-error"
            if api == "taobao.logistics.online.send"
            else "isv.logistics-offline-service-error"
        )
        with self.lock:
            trade = self.trades.get(tid)
            if trade is None:
                raise NotFoundError(f"{prefix}:B01", "订单不存在")
            carrier: Carrier | None = None
            if api != "taobao.logistics.dummy.send":
                if company_code is None:
                    raise invalid_argument("company_code")
                carrier = CARRIERS_BY_CODE.get(company_code.upper())
                if carrier is None:
                    raise invalid_argument("company_code", f"物流公司{company_code}不存在")
            if trade.type == "cod" and api == "taobao.logistics.offline.send":
                raise StateError(f"{prefix}:CD01", "发货方式不匹配: 货到付款订单请使用在线下单")
            if trade.status not in SHIPPABLE_STATUSES:
                raise StateError(f"{prefix}:B04", B04_MSG)
            pending = [o for o in trade.orders if not o.shipped and not o.closed]
            if sub_tids:
                wanted: list[Order] = []
                for oid in sub_tids:
                    order = next((o for o in trade.orders if o.oid == oid), None)
                    if order is None or order.shipped or order.closed or order in wanted:
                        raise StateError(
                            f"{prefix}:P38", f"拆单校验未通过: 子订单{oid}不存在或不可发货"
                        )
                    wanted.append(order)
                targets = wanted
            else:
                targets = pending
            if not targets:
                raise StateError(f"{prefix}:B04", B04_MSG)
            check = self.options.validate_tracking_numbers
            if validate_out_sid is not None:
                check = validate_out_sid
            if carrier is not None and out_sid is not None:
                used = any(s.out_sid == out_sid and s.tid != tid for s in self.shipments)
                if used or (check and re.fullmatch(carrier.reg_mail_no, out_sid) is None):
                    raise StateError(f"{prefix}:B60", "运单号不符合规则或已经被使用")
            when = self._at(at)
            confirmed = out_sid is not None or carrier is None
            shipment = Shipment(
                id=self.ids.next("shipment"),
                tid=tid,
                oids=[o.oid for o in targets],
                api=api,
                company_code=carrier.code if carrier else None,
                company_name=carrier.name if carrier else None,
                out_sid=out_sid,
                is_split=is_split or bool(sub_tids),
                feature=feature,
                created=when,
                confirmed=confirmed,
            )
            self.shipments.append(shipment)
            if confirmed:
                self._apply_shipment(trade, shipment, when)
            shipment.trade_status_after = trade.status
            return shipment

    def confirm_online(self, tid: int, out_sid: str, *, at: datetime | None = None) -> Shipment:
        """``taobao.logistics.online.confirm``: give the tracking number of a booking."""
        with self.lock:
            trade = self.trades.get(tid)
            if trade is None:
                raise NotFoundError("isv.logistics-online-service-error:B01", "订单不存在")
            shipment = next(
                (s for s in reversed(self.shipments) if s.tid == tid and not s.confirmed), None
            )
            if shipment is None:
                raise StateError(
                    "isv.logistics-online-service-error:B04", "没有待确认的在线下单物流订单"
                )
            when = self._at(at)
            shipment.out_sid = out_sid
            shipment.confirmed = True
            self._apply_shipment(trade, shipment, when)
            shipment.trade_status_after = trade.status
            return shipment

    def _apply_shipment(self, trade: Trade, shipment: Shipment, when: datetime) -> None:
        for oid in shipment.oids:
            order = trade.order(oid)
            order.consign_time = when
            order.logistics_company = shipment.company_name
            order.invoice_no = shipment.out_sid
            order.shipping_type = "virtual" if shipment.company_code is None else "express"
            order.status = "WAIT_BUYER_CONFIRM_GOODS"
        if trade.consign_time is None:
            trade.consign_time = when
        if shipment.is_split:
            trade.is_part_consign = True
        self._derive_status(trade)
        self._touch(trade, when)
        if trade.status == "SELLER_CONSIGNED_PART":
            self._emit("taobao_trade_TradePartlySellerShip", trade, when, oid=shipment.oids[0])
        else:
            self._emit("taobao_trade_TradeSellerShip", trade, when)

    @staticmethod
    def _derive_status(trade: Trade) -> None:
        """Recompute the trade status of a paid trade from its sub-orders."""
        active = [o for o in trade.orders if not o.closed]
        if not active:
            trade.status = "TRADE_CLOSED"
            return
        if trade.status in ("TRADE_FINISHED", "TRADE_BUYER_SIGNED", "PAID_FORBID_CONSIGN"):
            return
        if trade.status in UNPAID_STATUSES or trade.status == "TRADE_CLOSED_BY_TAOBAO":
            return
        shipped = [o for o in active if o.shipped]
        if len(shipped) == len(active):
            trade.status = "WAIT_BUYER_CONFIRM_GOODS"
        elif shipped:
            trade.status = "SELLER_CONSIGNED_PART"
        else:
            trade.status = "WAIT_SELLER_SEND_GOODS"

    # after shipping ------------------------------------------------------------------

    def sign_for(self, tid: int, *, at: datetime | None = None) -> Trade:
        """COD: the buyer signed for the parcel (TRADE_BUYER_SIGNED)."""
        with self.lock:
            trade = self.trade(tid)
            if trade.status != "WAIT_BUYER_CONFIRM_GOODS":
                raise StateError("isv.trade-status-error", "交易不是已发货状态")
            when = self._at(at)
            trade.status = "TRADE_BUYER_SIGNED"
            for order in trade.orders:
                if not order.closed:
                    order.status = "TRADE_BUYER_SIGNED"
            self._touch(trade, when)
            self._emit("taobao_trade_TradeChanged", trade, when)
            return trade

    def confirm_receipt(self, tid: int, *, at: datetime | None = None) -> Trade:
        """The buyer confirms receipt: TRADE_FINISHED, money released to the seller."""
        with self.lock:
            trade = self.trade(tid)
            if trade.status not in ("WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED"):
                raise StateError("isv.trade-status-error", f"交易状态{trade.status}不能确认收货")
            when = self._at(at)
            trade.status = "TRADE_FINISHED"
            trade.end_time = when
            for order in trade.orders:
                if not order.closed:
                    order.status = "TRADE_FINISHED"
                    order.end_time = when
            self._touch(trade, when)
            self._emit("taobao_trade_TradeSuccess", trade, when)
            return trade

    def close(self, tid: int, *, reason: str = "买家不想买了", at: datetime | None = None) -> Trade:
        """Close an unpaid trade (TRADE_CLOSED_BY_TAOBAO) and release its stock."""
        del reason  # kept for symmetry with taobao.trade.close; not rendered
        with self.lock:
            trade = self.trade(tid)
            if trade.status not in UNPAID_STATUSES:
                raise StateError(
                    "isv.trade-status-error", "只能关闭未付款的交易; 已付款交易请走退款"
                )
            when = self._at(at)
            trade.status = "TRADE_CLOSED_BY_TAOBAO"
            trade.end_time = when
            for order in trade.orders:
                order.status = "TRADE_CLOSED_BY_TAOBAO"
                order.end_time = when
                self._release(order, when)
            self._touch(trade, when)
            self._emit("taobao_trade_TradeClose", trade, when)
            return trade

    def update_memo(
        self,
        tid: int,
        *,
        memo: str | None,
        flag: int | None,
        reset: bool = False,
        at: datetime | None = None,
    ) -> Trade:
        """Seller memo and flag (``taobao.trade.memo.update``)."""
        if flag is not None and not 0 <= flag <= 5:
            raise invalid_argument("flag", "旗帜取值范围为0-5")
        with self.lock:
            trade = self.trade(tid)
            when = self._at(at)
            if reset:
                trade.seller_memo = None
                trade.seller_flag = 0
            else:
                if memo is not None:
                    trade.seller_memo = memo
                if flag is not None:
                    trade.seller_flag = flag
            self._touch(trade, when)
            self._emit("taobao_trade_TradeMemoModified", trade, when)
            return trade

    def change_receiver(self, tid: int, receiver: Receiver, *, at: datetime | None = None) -> Trade:
        """The buyer changes the delivery address before shipment (修改地址): the trade gets
        the new recipient's OAID and the old one goes stale."""
        with self.lock:
            trade = self.trade(tid)
            if trade.status not in UNPAID_STATUSES and trade.status not in SHIPPABLE_STATUSES:
                raise StateError("isv.trade-status-error", "交易已发货或已关闭, 不能修改收货地址")
            when = self._at(at)
            oaid = self.oaid_for(receiver)
            if oaid != trade.oaid:
                trade.previous_oaids.append(trade.oaid)
                trade.oaid = oaid
            trade.buyer = Buyer(
                open_uid=trade.buyer.open_uid,
                nick=trade.buyer.nick,
                receiver=receiver,
                email=trade.buyer.email,
            )
            self._touch(trade, when)
            self._emit("taobao_trade_TradeChanged", trade, when)
            return trade

    # refunds -----------------------------------------------------------------------

    def request_refund(
        self,
        tid: int,
        oid: int | None = None,
        *,
        refund_fee: Decimal | None = None,
        has_good_return: bool | None = None,
        reason: str = "不想要了",
        desc: str = "",
        at: datetime | None = None,
    ) -> Refund:
        """The buyer asks for a refund of one sub-order (WAIT_SELLER_AGREE)."""
        with self.lock:
            trade = self.trade(tid)
            order = trade.order(oid) if oid is not None else trade.orders[0]
            if not trade.is_paid or order.closed:
                raise StateError("isv.refund-status-error", "该子订单当前不能申请退款")
            if order.refund_status in ACTIVE_REFUND_STATUSES:
                raise StateError("isv.refund-status-error", "该子订单已有进行中的退款")
            paid = order.divide_order_fee
            fee = cents(refund_fee) if refund_fee is not None else paid
            if not ZERO < fee <= paid:
                raise invalid_argument("refund_fee", f"退款金额必须大于0且不超过{paid}")
            when = self._at(at)
            goods = has_good_return if has_good_return is not None else order.shipped
            refund = Refund(
                refund_id=self.ids.next("refund"),
                tid=tid,
                oid=order.oid,
                status="WAIT_SELLER_AGREE",
                refund_fee=fee,
                total_fee=paid,
                has_good_return=goods,
                good_status="BUYER_RECEIVED" if order.shipped else "BUYER_NOT_RECEIVED",
                reason=reason,
                desc=desc,
                refund_phase="aftersale" if trade.status == "TRADE_FINISHED" else "onsale",
                created=when,
                modified=when,
                order_status=order.status,
                title=order.title,
                price=order.price,
                num=order.num,
                num_iid=order.num_iid,
                sku=order.sku_properties_name,
                outer_id=order.outer_sku_id or order.outer_iid,
            )
            self.refunds[refund.refund_id] = refund
            order.refund_status = "WAIT_SELLER_AGREE"
            order.refund_id = refund.refund_id
            self._touch(trade, when)
            self._emit(
                "taobao_refund_RefundCreated",
                trade,
                when,
                oid=order.oid,
                refund_id=refund.refund_id,
            )
            return refund

    def _refund_step(self, refund: Refund, status: str, when: datetime) -> tuple[Trade, Order]:
        trade = self.trade(refund.tid)
        order = trade.order(refund.oid)
        refund.status = status
        refund.modified = when
        refund.order_status = order.status
        order.refund_status = status
        self._touch(trade, when)
        return trade, order

    def agree_refund(self, refund_id: int, *, at: datetime | None = None) -> Refund:
        """Seller agrees: returns go to WAIT_BUYER_RETURN_GOODS, money-only refunds succeed."""
        with self.lock:
            refund = self.refund(refund_id)
            if refund.status not in ("WAIT_SELLER_AGREE", "SELLER_REFUSE_BUYER"):
                raise StateError("isv.refund-status-error", f"退款状态{refund.status}不能同意")
            when = self._at(at)
            if refund.has_good_return:
                trade, order = self._refund_step(refund, "WAIT_BUYER_RETURN_GOODS", when)
                self._emit(
                    "taobao_refund_RefundSellerAgreeAgreement",
                    trade,
                    when,
                    oid=order.oid,
                    refund_id=refund_id,
                )
                return refund
            return self._refund_success(refund, when)

    def refuse_refund(self, refund_id: int, *, at: datetime | None = None) -> Refund:
        with self.lock:
            refund = self.refund(refund_id)
            if refund.status not in ("WAIT_SELLER_AGREE", "WAIT_SELLER_CONFIRM_GOODS"):
                raise StateError("isv.refund-status-error", f"退款状态{refund.status}不能拒绝")
            when = self._at(at)
            trade, order = self._refund_step(refund, "SELLER_REFUSE_BUYER", when)
            self._emit(
                "taobao_refund_RefundSellerRefuseAgreement",
                trade,
                when,
                oid=order.oid,
                refund_id=refund_id,
            )
            return refund

    def return_goods(
        self,
        refund_id: int,
        *,
        company_name: str = "中通快递",
        sid: str | None = None,
        at: datetime | None = None,
    ) -> Refund:
        """The buyer ships the goods back (WAIT_SELLER_CONFIRM_GOODS)."""
        with self.lock:
            refund = self.refund(refund_id)
            if refund.status != "WAIT_BUYER_RETURN_GOODS":
                raise StateError("isv.refund-status-error", "退款不是等待买家退货状态")
            when = self._at(at)
            refund.company_name = company_name
            refund.sid = sid or f"7{refund.refund_id % 10**13:013d}"
            refund.good_return_time = when
            refund.good_status = "BUYER_RETURNED_GOODS"
            trade, order = self._refund_step(refund, "WAIT_SELLER_CONFIRM_GOODS", when)
            self._emit(
                "taobao_refund_RefundBuyerReturnGoods",
                trade,
                when,
                oid=order.oid,
                refund_id=refund_id,
            )
            return refund

    def succeed_refund(self, refund_id: int, *, at: datetime | None = None) -> Refund:
        """Money goes back to the buyer (SUCCESS); an on-sale refund closes the sub-order."""
        with self.lock:
            refund = self.refund(refund_id)
            if refund.status in ("SUCCESS", "CLOSED"):
                raise StateError("isv.refund-status-error", f"退款状态{refund.status}已结束")
            return self._refund_success(refund, self._at(at))

    def _refund_success(self, refund: Refund, when: datetime) -> Refund:
        trade, order = self._refund_step(refund, "SUCCESS", when)
        trade.refunded_fee = cents(trade.refunded_fee + refund.refund_fee)
        self._emit(
            "taobao_refund_RefundSuccess", trade, when, oid=order.oid, refund_id=refund.refund_id
        )
        if refund.refund_phase == "onsale" and refund.refund_fee >= order.divide_order_fee:
            order.status = "TRADE_CLOSED"
            order.end_time = when
            before = trade.status
            self._derive_status(trade)
            if trade.status == "TRADE_CLOSED":
                trade.end_time = when
                self._emit("taobao_trade_TradeClose", trade, when)
            else:
                self._emit("taobao_trade_TradePartlyRefund", trade, when, oid=order.oid)
                if trade.status != before:
                    self._emit("taobao_trade_TradeChanged", trade, when)
        return refund

    def close_refund(self, refund_id: int, *, at: datetime | None = None) -> Refund:
        """The buyer withdraws the request (CLOSED)."""
        with self.lock:
            refund = self.refund(refund_id)
            if refund.status in ("SUCCESS", "CLOSED"):
                raise StateError("isv.refund-status-error", f"退款状态{refund.status}已结束")
            when = self._at(at)
            trade, order = self._refund_step(refund, "CLOSED", when)
            self._emit(
                "taobao_refund_RefundClosed", trade, when, oid=order.oid, refund_id=refund_id
            )
            return refund
