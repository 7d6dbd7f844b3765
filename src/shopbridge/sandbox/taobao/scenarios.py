"""Deterministic shop content: items with SKUs and stock, buyers, trades, live stream.

Everything is derived from ``random_seed`` through named :class:`DeterministicRandom`
streams, so the same options always produce the same items, SKU ids, buyers, trade ids
and amounts.

Buyers are invented: names combine common surnames and given names, mobiles are in the
``140`` IoT number range (never a personal line), nicks are ``tb`` + digits, street
addresses are generic ("文三路138号"-style) and every recipient is only ever rendered masked.

Seeding spreads creation over ``seed_days`` and lands the last change of most trades in
the last 24 hours (so an incremental client has work on its first window), covering every
trade status, presale stages, split shipments, COD, Tmall-global trades and refunds.
:class:`LiveStream` keeps a running sandbox busy with new trades and status changes.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.taobao.state import (
    CARRIERS_BY_CODE,
    ZERO,
    Buyer,
    InitialStatus,
    Invoice,
    Item,
    LineDraft,
    Receiver,
    Sku,
    StateError,
    TaobaoState,
    Trade,
    TradeDraft,
    TradeType,
    whole_seconds,
)

logger = logging.getLogger("shopbridge.sandbox.taobao")

# ---------------------------------------------------------------------------------------
# reference data


@dataclass(frozen=True)
class _ItemSpec:
    title: str
    outer_id: str
    cid: int
    price: str
    prop_name: str | None
    pid: int
    values: tuple[str, ...]
    second: tuple[str, int, tuple[str, ...]] | None = None


_ITEMS: tuple[_ItemSpec, ...] = (
    _ItemSpec(
        "轻量透气跑步鞋男女款",
        "BF-PBX",
        50012036,
        "399.00",
        "尺码",
        20549,
        ("39", "40", "41", "42"),
        ("颜色分类", 1627207, ("黑色", "白色")),
    ),
    _ItemSpec("美利奴羊毛袜三双装", "BF-YMW", 50006846, "89.00", "尺码", 20509, ("S", "M", "L")),
    _ItemSpec(
        "有机棉短袖T恤",
        "TY-TX",
        50000436,
        "129.00",
        "尺码",
        20509,
        ("S", "M", "L", "XL"),
        ("颜色分类", 1627207, ("米白", "藏青")),
    ),
    _ItemSpec(
        "真空保温杯316不锈钢",
        "CX-BWB",
        50003949,
        "159.00",
        "容量",
        122216343,
        ("500ml", "750ml"),
    ),
    _ItemSpec("帆布托特包", "TY-FBB", 50012010, "79.00", None, 0, ()),
    _ItemSpec(
        "陶瓷手冲咖啡套装",
        "YF-KFT",
        50019780,
        "299.00",
        "颜色分类",
        1627207,
        ("米白", "石墨"),
    ),
    _ItemSpec(
        "蓝牙降噪无线耳机",
        "SD-EJ",
        50005050,
        "459.00",
        "颜色分类",
        1627207,
        ("黑色", "白色"),
    ),
    _ItemSpec("软木瑜伽垫", "CX-YJD", 50019558, "239.00", None, 0, ()),
    _ItemSpec(
        "香薰蜡烛礼盒",
        "LB-LZ",
        50013886,
        "68.00",
        "香型",
        122276097,
        ("雪松", "无花果", "亚麻"),
    ),
    _ItemSpec("竹制砧板", "LB-ZB", 50002809, "118.00", "尺寸", 148242406, ("中号", "大号")),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "子涵",
    "欣怡",
    "梓萱",
    "浩然",
    "宇轩",
    "雨桐",
    "思远",
    "嘉怡",
)


@dataclass(frozen=True)
class _Place:
    state: str
    city: str
    district: str
    town: str
    zip: str
    area_code: str


_PLACES: tuple[_Place, ...] = (
    _Place("浙江省", "杭州市", "西湖区", "西溪街道", "310013", "0571"),
    _Place("浙江省", "宁波市", "鄞州区", "首南街道", "315100", "0574"),
    _Place("上海", "上海市", "浦东新区", "张江镇", "201203", "021"),
    _Place("北京", "北京市", "海淀区", "中关村街道", "100080", "010"),
    _Place("广东省", "深圳市", "南山区", "粤海街道", "518057", "0755"),
    _Place("广东省", "广州市", "天河区", "石牌街道", "510630", "020"),
    _Place("江苏省", "南京市", "鼓楼区", "宁海路街道", "210024", "025"),
    _Place("江苏省", "苏州市", "姑苏区", "平江街道", "215005", "0512"),
    _Place("四川省", "成都市", "武侯区", "玉林街道", "610041", "028"),
    _Place("湖北省", "武汉市", "洪山区", "珞南街道", "430070", "027"),
    _Place("陕西省", "西安市", "雁塔区", "小寨路街道", "710061", "029"),
    _Place("河南省", "济源市", "", "沁园街道", "459000", "0391"),
)
_STREETS = ("文三路", "学院路", "人民路", "建设路", "中山路", "解放路", "长江路", "和平路")
_MESSAGES = (
    "请尽快发货, 谢谢",
    "麻烦用顺丰",
    "送人的, 不要放价格单",
    "周末送货",
    "请包装结实一点",
)
_MEMOS = ("已核对库存", "优先发货", "老客户, 加赠小样", "地址已电话确认")
_REFUND_REASONS = ("不想要了", "尺码拍错", "商品与描述不符", "七天无理由退换货", "质量问题")
_CARRIER_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("ZTO", 25.0),
    ("YTO", 20.0),
    ("YUNDA", 15.0),
    ("STO", 12.0),
    ("SF", 15.0),
    ("JTSD", 6.0),
    ("JD", 3.0),
    ("EMS", 2.0),
    ("DBKD", 2.0),
)


def tracking_number(code: str, rng: DeterministicRandom) -> str:
    """A tracking number that matches the carrier's ``reg_mail_no`` pattern."""

    def digits(n: int) -> str:
        return "".join(str(rng.randint(0, 9)) for _ in range(n))

    patterns = {
        "SF": lambda: "SF" + digits(13),
        "ZTO": lambda: "75" + digits(12),
        "YTO": lambda: "YT" + digits(13),
        "STO": lambda: "77" + digits(12),
        "YUNDA": lambda: "4" + digits(14),
        "EMS": lambda: "1" + digits(12),
        "POSTB": lambda: "9" + digits(12),
        "POST": lambda: "PY" + digits(10),
        "JD": lambda: "JDVA" + digits(11),
        "DBKD": lambda: "DPK" + digits(12),
        "DBL": lambda: "DPK" + digits(12),
        "ZJS": lambda: "ZJ" + digits(10),
        "HTKY": lambda: "A" + digits(12),
        "JTSD": lambda: "JT" + digits(13),
    }
    return patterns.get(code, lambda: digits(12))()


# ---------------------------------------------------------------------------------------
# generator


class ShopGenerator:
    """Builds the catalog, buyers and trade drafts of one shop."""

    def __init__(self, state: TaobaoState, rng: DeterministicRandom) -> None:
        self.state = state
        self.rng = rng

    def build_catalog(self, now: datetime) -> None:
        rng = self.rng.child("catalog")
        state = self.state
        for spec in _ITEMS:
            created = whole_seconds(now - timedelta(days=rng.randint(60, 400)))
            num_iid = state.ids.next("num_iid")
            item = Item(
                num_iid=num_iid,
                title=spec.title,
                outer_id=spec.outer_id,
                price=Decimal(spec.price),
                cid=spec.cid,
                pic_url=f"https://img.alicdn.com/bao/uploaded/i1/sandbox/{num_iid}.jpg",
                created=created,
                modified=created,
                list_time=created,
                delist_time=created + timedelta(days=7),
            )
            combos: list[tuple[tuple[str, int, int, str], ...]] = []
            if spec.prop_name is not None:
                first = [
                    (spec.prop_name, spec.pid, 28_300 + index * 17, value)
                    for index, value in enumerate(spec.values)
                ]
                if spec.second is not None:
                    name, pid, values = spec.second
                    second = [
                        (name, pid, 28_320 + index * 21, value)
                        for index, value in enumerate(values)
                    ]
                    combos = [(a, b) for b in second for a in first]
                else:
                    combos = [(a,) for a in first]
            for position, combo in enumerate(combos):
                price = Decimal(spec.price)
                if spec.prop_name == "容量" and position > 0:
                    price += Decimal("30.00")
                outer = "-".join(
                    [
                        spec.outer_id,
                        *(_ascii_code(value, idx) for idx, (_, _, _, value) in enumerate(combo)),
                    ]
                )
                item.skus.append(
                    Sku(
                        sku_id=state.ids.next("sku"),
                        num_iid=num_iid,
                        outer_id=outer,
                        properties=";".join(f"{pid}:{vid}" for _, pid, vid, _ in combo),
                        properties_name=";".join(
                            f"{pid}:{vid}:{name}:{value}" for name, pid, vid, value in combo
                        ),
                        price=price,
                        quantity=rng.randint(20, 400),
                        created=created,
                        modified=created,
                    )
                )
            if not item.skus:
                item.quantity = rng.randint(50, 500)
            state.add_item(item)

    def buyer(self, rng: DeterministicRandom) -> Buyer:
        place = rng.choice(_PLACES)
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        if rng.chance(0.3):
            name += rng.choice(_GIVEN)[:1]
        mobile = "140" + "".join(str(rng.randint(0, 9)) for _ in range(8))
        phone = f"{place.area_code}-8{rng.randint(1000000, 9999999)}" if rng.chance(0.15) else None
        address = (
            f"{rng.choice(_STREETS)}{rng.randint(1, 999)}号"
            f"{rng.randint(1, 30)}幢{rng.randint(1, 28)}0{rng.randint(1, 6)}室"
        )
        receiver = Receiver(
            name=name,
            mobile=mobile,
            phone=phone,
            state=place.state,
            city=place.city,
            district=place.district,
            town=place.town,
            address=address,
            zip=place.zip,
        )
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        open_uid = "AAE" + rng.alnum(21, alphabet)
        nick = f"tb{rng.randint(10_000_000, 999_999_999)}"
        return Buyer(open_uid=open_uid, nick=nick, receiver=receiver)

    def draft(
        self,
        rng: DeterministicRandom,
        *,
        trade_type: TradeType | None = None,
        lines: int | None = None,
        buyer: Buyer | None = None,
    ) -> TradeDraft:
        state = self.state
        choices: tuple[tuple[TradeType, float], ...] = (
            ("fixed", 80.0),
            ("step", 6.0),
            ("cod", 4.0),
            ("tmall_i18n", 4.0),
            ("auction", 2.0),
        )
        chosen: TradeType = trade_type if trade_type is not None else rng.weighted(choices)
        count = lines if lines is not None else rng.weighted(((1, 60.0), (2, 25.0), (3, 15.0)))
        items = rng.sample(list(state.items.values()), min(count, len(state.items)))
        line_drafts: list[LineDraft] = []
        for item in items:
            sku = rng.choice(item.skus) if item.skus else None
            num = rng.weighted(((1, 70.0), (2, 22.0), (3, 8.0)))
            discount = ZERO
            if rng.chance(0.2):
                discount = Decimal(rng.choice(("5.00", "10.00", "20.00")))
            line_drafts.append(
                LineDraft(item.num_iid, sku.sku_id if sku else None, num, discount_fee=discount)
            )
        subtotal = sum(
            (
                (
                    state.items[ld.num_iid].sku(ld.sku_id).price
                    if ld.sku_id
                    else state.items[ld.num_iid].price
                )
                * ld.num
                - ld.discount_fee
                for ld in line_drafts
            ),
            ZERO,
        )
        trade_discount = ZERO
        if subtotal >= Decimal("300") and rng.chance(0.4):
            trade_discount = Decimal("30.00")
        elif subtotal >= Decimal("150") and rng.chance(0.3):
            trade_discount = Decimal("15.00")
        post_fee = ZERO if subtotal >= Decimal("99") else Decimal("8.00")
        invoice = None
        if rng.chance(0.15):
            invoice = Invoice(
                kind=rng.choice(("1", "2")),
                name=rng.choice(("个人", "杭州示例科技有限公司")),
                type="明细",
            )
        initial: InitialStatus = "WAIT_BUYER_PAY"
        if chosen == "pre_auth_type":
            initial = "WAIT_PRE_AUTH_CONFIRM"
        return TradeDraft(
            lines=line_drafts,
            buyer=buyer or self.buyer(rng),
            type=chosen,
            post_fee=post_fee,
            discount_fee=trade_discount,
            buyer_message=rng.choice(_MESSAGES) if rng.chance(0.25) else None,
            initial_status=initial,
            invoice=invoice,
            shipping_type="express",
            trade_from=rng.choice(("WAP,WAP", "TAOBAO", "WAP,JHS")),
        )

    def carrier(self, rng: DeterministicRandom) -> str:
        return rng.weighted(_CARRIER_WEIGHTS)


def _ascii_code(value: str, position: int) -> str:
    ascii_part = "".join(ch for ch in value.upper() if ch.isascii() and ch.isalnum())
    if ascii_part:
        return ascii_part[:5]
    return f"V{(sum(ord(ch) for ch in value) % 97) + position:02d}"


# ---------------------------------------------------------------------------------------
# lifecycle helpers (used by seeding, the live stream and the control API)


def ship(
    state: TaobaoState,
    generator: ShopGenerator,
    rng: DeterministicRandom,
    trade: Trade,
    *,
    oids: list[int] | None = None,
    company_code: str | None = None,
    out_sid: str | None = None,
    api: str = "sandbox",
    at: datetime | None = None,
) -> None:
    code = company_code or generator.carrier(rng)
    if code not in CARRIERS_BY_CODE:
        code = code.upper()
    state.consign(
        trade.tid,
        api=api,
        company_code=code,
        out_sid=out_sid or tracking_number(code, rng),
        sub_tids=oids,
        is_split=bool(oids),
        at=at,
    )


_OUTCOMES: tuple[tuple[str, float], ...] = (
    ("wait_pay", 8.0),
    ("no_create_pay", 2.0),
    ("pay_pending", 1.0),
    ("pre_auth", 1.0),
    ("closed_unpaid", 6.0),
    ("paid", 20.0),
    ("forbid_consign", 2.0),
    ("part_shipped", 5.0),
    ("shipped", 20.0),
    ("cod_signed", 2.0),
    ("finished", 15.0),
    ("refund_pending", 4.0),
    ("refunded_closed", 4.0),
    ("presale_unpaid", 2.0),
    ("presale_deposit", 4.0),
    ("presale_paid", 3.0),
)


def seed_shop(
    state: TaobaoState, generator: ShopGenerator, *, count: int, days: int, now: datetime
) -> None:
    """Create ``count`` trades with realistic histories (no TMC messages are published)."""
    rng = generator.rng.child("seed")
    with state.quiet():
        for _ in range(count):
            outcome = rng.weighted(_OUTCOMES)
            age = timedelta(seconds=rng.randint(1800, days * 86400))
            created = whole_seconds(now - age)
            if rng.chance(0.8):
                recent = whole_seconds(now - timedelta(seconds=rng.randint(60, 23 * 3600)))
                last = max(created + timedelta(minutes=2), recent)
            else:
                last = created + timedelta(minutes=rng.randint(2, 600))
            last = min(last, now)
            try:
                _seed_one(state, generator, rng, outcome, created, last)
            except StateError as exc:
                logger.debug("seed trade skipped (%s): %s", outcome, exc.sub_code)


def _steps(created: datetime, last: datetime, count: int) -> list[datetime]:
    """``count`` increasing times after ``created``, the last one being ``last``."""
    if count <= 0:
        return []
    span = max(timedelta(seconds=count), last - created)
    return [whole_seconds(created + span * (i + 1) / count) for i in range(count)]


def _seed_one(
    state: TaobaoState,
    generator: ShopGenerator,
    rng: DeterministicRandom,
    outcome: str,
    created: datetime,
    last: datetime,
) -> None:
    trade_type: TradeType | None = None
    lines: int | None = None
    if outcome.startswith("presale"):
        trade_type = "step"
    elif outcome == "cod_signed":
        trade_type = "cod"
    elif outcome == "pre_auth":
        trade_type = "pre_auth_type"
    elif outcome == "part_shipped":
        lines = rng.randint(2, 3)
        trade_type = "fixed"
    elif outcome in ("wait_pay", "no_create_pay", "pay_pending", "closed_unpaid"):
        unpaid: tuple[tuple[TradeType, float], ...] = (
            ("fixed", 90.0),
            ("auction", 5.0),
            ("tmall_i18n", 5.0),
        )
        trade_type = rng.weighted(unpaid)
    else:
        paid: tuple[tuple[TradeType, float], ...] = (
            ("fixed", 90.0),
            ("tmall_i18n", 6.0),
            ("auction", 4.0),
        )
        trade_type = rng.weighted(paid)
    draft = generator.draft(rng, trade_type=trade_type, lines=lines)
    if outcome == "no_create_pay":
        draft.initial_status = "TRADE_NO_CREATE_PAY"
    elif outcome == "pay_pending":
        draft.initial_status = "PAY_PENDING"
    if outcome == "forbid_consign":
        draft.forbid_consign = True
    if rng.chance(0.2):
        draft.seller_memo = rng.choice(_MEMOS)
        draft.seller_flag = rng.randint(1, 5)
    trade = state.create_trade(draft, at=created)
    tid = trade.tid
    plan: dict[str, int] = {
        "wait_pay": 0,
        "no_create_pay": 0,
        "pay_pending": 0,
        "pre_auth": 0,
        "closed_unpaid": 1,
        "paid": 1,
        "forbid_consign": 1,
        "part_shipped": 2,
        "shipped": 2,
        "cod_signed": 3,
        "finished": 3,
        "refund_pending": 2,
        "refunded_closed": 3,
        "presale_unpaid": 0,
        "presale_deposit": 1,
        "presale_paid": 2,
    }
    times = _steps(created, last, plan[outcome])
    if not times:
        return
    if outcome == "closed_unpaid":
        state.close(tid, at=times[0])
    elif outcome in ("paid", "forbid_consign"):
        state.pay(tid, at=times[0])
    elif outcome == "presale_deposit":
        state.pay_deposit(tid, at=times[0])
    elif outcome == "presale_paid":
        state.pay_deposit(tid, at=times[0])
        state.pay_balance(tid, at=times[1])
    elif outcome == "part_shipped":
        state.pay(tid, at=times[0])
        ship(state, generator, rng, trade, oids=[trade.orders[0].oid], at=times[1])
    elif outcome == "shipped":
        state.pay(tid, at=times[0])
        ship(state, generator, rng, trade, at=times[1])
    elif outcome == "cod_signed":
        state.pay(tid, at=times[0])
        state.consign(
            tid,
            api="sandbox",
            company_code="SF",
            out_sid=tracking_number("SF", rng),
            at=times[1],
        )
        state.sign_for(tid, at=times[2])
    elif outcome == "finished":
        state.pay(tid, at=times[0])
        ship(state, generator, rng, trade, at=times[1])
        state.confirm_receipt(tid, at=times[2])
    elif outcome == "refund_pending":
        state.pay(tid, at=times[0])
        state.request_refund(tid, reason=rng.choice(_REFUND_REASONS), at=times[1])
    elif outcome == "refunded_closed":
        state.pay(tid, at=times[0])
        refund = state.request_refund(
            tid, trade.orders[0].oid, reason=rng.choice(_REFUND_REASONS), at=times[1]
        )
        state.succeed_refund(refund.refund_id, at=times[2])
        for order in trade.orders[1:]:
            refund = state.request_refund(tid, order.oid, at=times[2])
            state.succeed_refund(refund.refund_id, at=times[2])


# ---------------------------------------------------------------------------------------
# live stream


@dataclass(frozen=True)
class StepResult:
    action: str
    tid: int | None

    def to_dict(self) -> dict[str, str | int | None]:
        return {"action": self.action, "tid": self.tid, "tid_str": str(self.tid)}


class LiveStream:
    """Background generator of new trades and status changes (with TMC messages)."""

    def __init__(
        self, state: TaobaoState, generator: ShopGenerator, rng: DeterministicRandom, rate: float
    ) -> None:
        self.state = state
        self.generator = generator
        self.rng = rng
        self.rate = rate
        self.steps = 0

    def new_trade(self, *, paid: bool = True, trade_type: TradeType | None = None) -> Trade:
        trade = self.state.create_trade(self.generator.draft(self.rng, trade_type=trade_type))
        if paid and trade.type != "step":
            self.state.pay(trade.tid)
        return trade

    def step(self) -> StepResult:
        """Do one thing: place a trade (about half the steps) or move an existing one."""
        self.steps += 1
        rng = self.rng
        state = self.state
        if rng.chance(0.5) or not state.trades:
            trade = self.new_trade(paid=rng.chance(0.7))
            return StepResult("create", trade.tid)
        action = rng.weighted(
            (
                ("pay", 20.0),
                ("ship", 25.0),
                ("ship_partial", 8.0),
                ("confirm", 15.0),
                ("close", 8.0),
                ("refund", 8.0),
                ("refund_agree", 6.0),
                ("memo", 10.0),
            )
        )
        with state.lock:
            recent = list(itertools.islice(reversed(state.trades.values()), 200))
            if action == "pay":
                candidates = [
                    t
                    for t in recent
                    if t.status in ("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY", "PAY_PENDING")
                ]
            elif action == "ship":
                candidates = [
                    t for t in recent if t.status == "WAIT_SELLER_SEND_GOODS" and t.type != "cod"
                ]
            elif action == "ship_partial":
                candidates = [
                    t
                    for t in recent
                    if t.status == "WAIT_SELLER_SEND_GOODS"
                    and t.type != "cod"
                    and sum(1 for o in t.orders if not o.shipped and not o.closed) >= 2
                ]
            elif action == "confirm":
                candidates = [t for t in recent if t.status == "WAIT_BUYER_CONFIRM_GOODS"]
            elif action == "close":
                candidates = [t for t in recent if t.status == "WAIT_BUYER_PAY"]
            elif action == "refund":
                candidates = [
                    t
                    for t in recent
                    if t.status in ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS")
                    and any(o.refund_status == "NO_REFUND" and not o.closed for o in t.orders)
                ]
            elif action == "refund_agree":
                pending = [r for r in state.refunds.values() if r.status == "WAIT_SELLER_AGREE"]
                candidates = [state.trades[r.tid] for r in pending[-50:]]
            else:
                candidates = recent
            if not candidates:
                trade = self.new_trade()
                return StepResult("create", trade.tid)
            trade = rng.choice(candidates)
            try:
                if action == "pay":
                    state.pay(trade.tid)
                elif action == "ship":
                    ship(state, self.generator, rng, trade, api="stream")
                elif action == "ship_partial":
                    first = next(o for o in trade.orders if not o.shipped and not o.closed)
                    ship(state, self.generator, rng, trade, oids=[first.oid], api="stream")
                elif action == "confirm":
                    state.confirm_receipt(trade.tid)
                elif action == "close":
                    state.close(trade.tid)
                elif action == "refund":
                    order = next(
                        o for o in trade.orders if o.refund_status == "NO_REFUND" and not o.closed
                    )
                    state.request_refund(trade.tid, order.oid, reason=rng.choice(_REFUND_REASONS))
                elif action == "refund_agree":
                    refund = next(
                        r
                        for r in state.refunds.values()
                        if r.tid == trade.tid and r.status == "WAIT_SELLER_AGREE"
                    )
                    state.agree_refund(refund.refund_id)
                else:
                    state.update_memo(trade.tid, memo=rng.choice(_MEMOS), flag=rng.randint(1, 5))
            except StateError as exc:
                logger.debug("live step %s skipped: %s", action, exc.sub_code)
                return StepResult("noop", trade.tid)
            return StepResult(action, trade.tid)
