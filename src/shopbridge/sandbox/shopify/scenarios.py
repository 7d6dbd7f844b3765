"""Deterministic shop content: catalog, locations, stock, buyers and orders.

Everything is derived from ``random_seed`` through named :class:`DeterministicRandom`
streams, so the same options always produce the same products, SKUs, buyers, order
numbers, ids and amounts.

Buyers are invented: names are combinations of common given names and surnames, e-mail
addresses use the reserved ``example.com/.net/.org`` domains, US phone numbers use the
fictional ``555-01xx`` range and Chinese ones the ``+86 140`` IoT range (never a personal
line), and street addresses are generic.

:class:`LiveStream` keeps a running sandbox busy: each step places a new order or moves a
recent one (payment, partial/full fulfilment, refund, cancellation, archiving); the app
steps it at ``2 * orders_per_second`` steps per second.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.shopify.state import (
    Address,
    BuyerRequest,
    DiscountRequest,
    InventoryItem,
    InventoryLevel,
    LineRequest,
    Location,
    Order,
    OrderDraft,
    PaymentPlan,
    Product,
    ProductOption,
    RefundLineRequest,
    ShippingRequest,
    ShopifyState,
    StateError,
    TrackingInfo,
    Variant,
    whole_seconds,
)

logger = logging.getLogger("shopbridge.sandbox.shopify")

# ---------------------------------------------------------------------------------------
# reference data


@dataclass(frozen=True)
class _ProductSpec:
    title: str
    vendor: str
    product_type: str
    sku_prefix: str
    price: str
    option_name: str | None
    values: tuple[str, ...]
    grams: int
    shippable: bool = True


_USD_PRODUCTS: tuple[_ProductSpec, ...] = (
    _ProductSpec(
        "Trail Running Shoe",
        "Northpeak",
        "Shoes",
        "NP-TRS",
        "119.00",
        "Size",
        ("8", "9", "10", "11"),
        620,
    ),
    _ProductSpec(
        "Merino Wool Socks (3-Pack)",
        "Northpeak",
        "Socks",
        "NP-MWS",
        "24.50",
        "Size",
        ("S", "M", "L"),
        180,
    ),
    _ProductSpec(
        "Organic Cotton T-Shirt",
        "Fieldline",
        "Shirts",
        "FL-OCT",
        "32.00",
        "Size",
        ("S", "M", "L", "XL"),
        210,
    ),
    _ProductSpec(
        "Insulated Water Bottle",
        "Tidewell",
        "Drinkware",
        "TW-IWB",
        "29.95",
        "Capacity",
        ("500 ml", "750 ml"),
        390,
    ),
    _ProductSpec("Canvas Tote Bag", "Fieldline", "Bags", "FL-CTB", "19.00", None, (), 240),
    _ProductSpec(
        "Ceramic Pour-Over Set",
        "Kiln & Co",
        "Kitchen",
        "KC-POS",
        "58.00",
        "Color",
        ("Sand", "Slate"),
        980,
    ),
    _ProductSpec(
        "Wireless Earbuds",
        "Audiolane",
        "Electronics",
        "AL-WEB",
        "89.99",
        "Color",
        ("Black", "White"),
        120,
    ),
    _ProductSpec("Cork Yoga Mat", "Tidewell", "Fitness", "TW-CYM", "64.00", None, (), 1800),
    _ProductSpec(
        "Leather Card Wallet",
        "Kiln & Co",
        "Accessories",
        "KC-LCW",
        "45.00",
        "Color",
        ("Tan", "Black"),
        60,
    ),
    _ProductSpec(
        "Soy Wax Candle",
        "Hearthmoor",
        "Home",
        "HM-SWC",
        "22.00",
        "Scent",
        ("Cedar", "Fig", "Linen"),
        420,
    ),
    _ProductSpec(
        "Bamboo Cutting Board",
        "Hearthmoor",
        "Kitchen",
        "HM-BCB",
        "36.00",
        "Size",
        ("Medium", "Large"),
        1100,
    ),
    _ProductSpec(
        "Digital Gift Card",
        "Demo Shop",
        "Gift Cards",
        "GC",
        "25.00",
        "Amount",
        ("$25", "$50", "$100"),
        0,
        False,
    ),
)

_CNY_PRODUCTS: tuple[_ProductSpec, ...] = (
    _ProductSpec(
        "轻量跑步鞋", "北峰", "鞋类", "BF-PBX", "599.00", "尺码", ("39", "40", "41", "42"), 620
    ),
    _ProductSpec(
        "美利奴羊毛袜 三双装", "北峰", "袜子", "BF-YMW", "99.00", "尺码", ("S", "M", "L"), 180
    ),
    _ProductSpec(
        "有机棉T恤", "田野", "上衣", "TY-TX", "129.00", "尺码", ("S", "M", "L", "XL"), 210
    ),
    _ProductSpec("真空保温杯", "潮汐", "杯具", "CX-BWB", "159.00", "容量", ("500ml", "750ml"), 390),
    _ProductSpec("帆布托特包", "田野", "箱包", "TY-FBB", "89.00", None, (), 240),
    _ProductSpec(
        "陶瓷手冲咖啡套装", "窑坊", "厨房", "YF-KFT", "299.00", "颜色", ("米白", "石墨"), 980
    ),
    _ProductSpec("蓝牙无线耳机", "声道", "数码", "SD-EJ", "399.00", "颜色", ("黑色", "白色"), 120),
    _ProductSpec("软木瑜伽垫", "潮汐", "运动", "CX-YJD", "269.00", None, (), 1800),
    _ProductSpec("真皮卡包", "窑坊", "配饰", "YF-KB", "199.00", "颜色", ("棕色", "黑色"), 60),
    _ProductSpec(
        "香薰蜡烛", "炉边", "家居", "LB-LZ", "88.00", "香型", ("雪松", "无花果", "亚麻"), 420
    ),
    _ProductSpec("竹制砧板", "炉边", "厨房", "LB-ZB", "128.00", "尺寸", ("中号", "大号"), 1100),
    _ProductSpec(
        "电子礼品卡",
        "演示店",
        "礼品卡",
        "LPK",
        "100.00",
        "面额",
        ("¥100", "¥200", "¥500"),
        0,
        False,
    ),
)

# Variants that cost more per option step (bigger bottle, bigger board).
_PRICE_STEPS = {"TW-IWB": "5.00", "HM-BCB": "8.00", "CX-BWB": "20.00", "LB-ZB": "30.00"}

_US_GIVEN = (
    "James",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Ethan",
    "Sophia",
    "Mason",
    "Isabella",
    "Lucas",
    "Mia",
    "Logan",
    "Amelia",
    "Elijah",
    "Harper",
    "Aiden",
    "Evelyn",
    "Caleb",
    "Abigail",
    "Ryan",
    "Chloe",
    "Nathan",
    "Grace",
    "Owen",
    "Lily",
    "Isaac",
    "Zoe",
    "Julian",
    "Nora",
)
_US_FAMILY = (
    "Carter",
    "Bennett",
    "Hayes",
    "Brooks",
    "Foster",
    "Russell",
    "Griffin",
    "Coleman",
    "Hughes",
    "Perry",
    "Powell",
    "Long",
    "Patterson",
    "Sanders",
    "Price",
    "Ross",
    "Barnes",
    "Fisher",
    "Henderson",
    "Jenkins",
    "Ward",
    "Simmons",
    "Wallace",
    "Bryant",
    "Dunn",
    "Holt",
    "Parks",
)
_US_STREETS = (
    "Maple",
    "Oak",
    "Cedar",
    "Elm",
    "Willow",
    "Birch",
    "Lakeview",
    "Hillcrest",
    "Sunset",
    "Highland",
    "Meadow",
    "Riverside",
    "Park",
    "Chestnut",
    "Walnut",
)
_US_SUFFIX = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard")
# (city, province, code, zip, area code, latitude, longitude) - city centres only.
_US_CITIES = (
    ("Austin", "Texas", "TX", "78701", "512", 30.2672, -97.7431),
    ("Portland", "Oregon", "OR", "97205", "503", 45.5152, -122.6784),
    ("Denver", "Colorado", "CO", "80202", "303", 39.7392, -104.9903),
    ("Seattle", "Washington", "WA", "98101", "206", 47.6062, -122.3321),
    ("Chicago", "Illinois", "IL", "60601", "312", 41.8781, -87.6298),
    ("Boston", "Massachusetts", "MA", "02108", "617", 42.3601, -71.0589),
    ("Miami", "Florida", "FL", "33131", "305", 25.7617, -80.1918),
    ("Atlanta", "Georgia", "GA", "30303", "404", 33.7490, -84.3880),
    ("San Diego", "California", "CA", "92101", "619", 32.7157, -117.1611),
    ("Brooklyn", "New York", "NY", "11201", "718", 40.6782, -73.9442),
    ("Philadelphia", "Pennsylvania", "PA", "19103", "215", 39.9526, -75.1652),
    ("Phoenix", "Arizona", "AZ", "85004", "602", 33.4484, -112.0740),
)

_CN_FAMILY = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "林",
    "罗",
    "高",
)
_CN_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "洋",
    "艳",
    "勇",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "子涵",
    "雨桐",
    "浩然",
    "欣怡",
    "梓萱",
    "宇轩",
)
_CN_STREETS = ("人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "长江路", "文化路")
# (city, province, code, district, zip, latitude, longitude)
_CN_CITIES = (
    ("上海", "上海市", "SH", "浦东新区", "200120", 31.2304, 121.4737),
    ("北京", "北京市", "BJ", "朝阳区", "100020", 39.9042, 116.4074),
    ("深圳", "广东省", "GD", "南山区", "518052", 22.5431, 114.0579),
    ("杭州", "浙江省", "ZJ", "西湖区", "310012", 30.2741, 120.1551),
    ("南京", "江苏省", "JS", "鼓楼区", "210008", 32.0603, 118.7969),
    ("成都", "四川省", "SC", "武侯区", "610041", 30.5728, 104.0668),
    ("武汉", "湖北省", "HB", "洪山区", "430070", 30.5928, 114.3055),
)

_USD_SHIPPING = (
    ("Standard Shipping", "STANDARD", "5.99"),
    ("Express Shipping", "EXPRESS", "14.99"),
)
_CNY_SHIPPING = (("标准快递", "STANDARD", "8.00"), ("顺丰速运", "SF", "15.00"))
_USD_DISCOUNTS = (
    ("WELCOME10", "10", "percentage"),
    ("SAVE5", "5.00", "fixed_amount"),
    ("SPRING15", "15", "percentage"),
    ("FREESHIP", "0", "shipping"),
)
_CNY_DISCOUNTS = (
    ("NEW20", "20.00", "fixed_amount"),
    ("VIP95", "5", "percentage"),
    ("MAN199JIAN30", "30.00", "fixed_amount"),
    ("BAOYOU", "0", "shipping"),
)
_TAGS = ("VIP", "wholesale", "gift", "repeat-buyer", "priority", "marketplace")
_NOTES = (
    "Please leave at the front desk.",
    "Gift wrap, no invoice in the box.",
    "Call before delivery.",
)
_CN_NOTES = ("请放快递柜", "礼品包装 不要放发票", "送货前请电话联系")

Outcome = Literal[
    "open", "partial", "fulfilled", "fulfilled_closed", "partial_refund", "refunded", "cancelled"
]


class ShopGenerator:
    """Builds catalog, buyers and order drafts for one shop from a seed."""

    def __init__(self, state: ShopifyState, rng: DeterministicRandom) -> None:
        self.state = state
        self.rng = rng
        self.cny = state.shop.currency == "CNY"
        self._buyer_rng = rng.child("buyers")
        self._buyer_count = 0

    # catalog ---------------------------------------------------------------------

    def build_catalog(self, at: datetime) -> None:
        """Create locations, products, variants, inventory items and stock levels."""
        state = self.state
        rng = self.rng.child("catalog")
        if self.cny:
            location_specs = (
                ("上海中心仓", "浦东新区示范路 88 号", "上海", "200120", "上海市", "SH"),
                ("广州门店", "天河区体育西路 100 号", "广州", "510620", "广东省", "GD"),
            )
            country, country_code = "China", "CN"
        else:
            location_specs = (
                ("Main Warehouse", "400 Commerce Way", "Newark", "07102", "New Jersey", "NJ"),
                ("Brooklyn Store", "85 Atlantic Avenue", "Brooklyn", "11201", "New York", "NY"),
            )
            country, country_code = "United States", "US"
        for name, address1, city, zip_code, province, code in location_specs:
            state.add_location(
                Location(
                    id=state.ids.next("location"),
                    name=name,
                    address1=address1,
                    address2=None,
                    city=city,
                    zip=zip_code,
                    province=province,
                    province_code=code,
                    country=country,
                    country_code=country_code,
                    phone=None,
                    created_at=at,
                    updated_at=at,
                )
            )
        location_ids = list(state.locations)
        specs = _CNY_PRODUCTS if self.cny else _USD_PRODUCTS
        for spec in specs:
            product_id = state.ids.next("product")
            values = spec.values or ("Default Title",)
            variants: list[Variant] = []
            items: list[InventoryItem] = []
            base_price = Decimal(spec.price)
            for position, value in enumerate(values, start=1):
                sku = (
                    spec.sku_prefix
                    if not spec.values
                    else f"{spec.sku_prefix}-{_sku_part(value, position)}"
                )
                price = base_price
                if not spec.shippable:
                    price = Decimal(value.lstrip("$¥")).quantize(Decimal("0.01"))
                else:
                    step = Decimal(_PRICE_STEPS.get(spec.sku_prefix, "0"))
                    price = base_price + step * (position - 1)
                item = InventoryItem(
                    id=state.ids.next("inventory_item"),
                    sku=sku,
                    cost=(price * Decimal("0.42")).quantize(Decimal("0.01")),
                    created_at=at,
                    updated_at=at,
                    tracked=spec.shippable,
                    requires_shipping=spec.shippable,
                    country_code_of_origin="CN" if self.cny else "US",
                )
                items.append(item)
                variants.append(
                    Variant(
                        id=state.ids.next("variant"),
                        product_id=product_id,
                        title=value,
                        sku=sku,
                        price=price,
                        compare_at_price=(price * Decimal("1.2")).quantize(Decimal("1"))
                        if rng.chance(0.25)
                        else None,
                        position=position,
                        option1=value,
                        option2=None,
                        option3=None,
                        barcode=f"{rng.randint(10**11, 10**12 - 1)}" if spec.shippable else None,
                        grams=spec.grams,
                        inventory_item_id=item.id,
                        created_at=at,
                        updated_at=at,
                        taxable=spec.shippable,
                        requires_shipping=spec.shippable,
                        inventory_management="shopify" if spec.shippable else None,
                    )
                )
            handle = spec.sku_prefix.lower() if self.cny else _handle(spec.title)
            product = Product(
                id=product_id,
                title=spec.title,
                handle=handle,
                vendor=spec.vendor,
                product_type=spec.product_type,
                body_html=f"<p>{spec.title}</p>",
                tags=spec.product_type,
                status="active",
                created_at=at,
                updated_at=at,
                published_at=at,
                options=[
                    ProductOption(
                        id=state.ids.next("product_option"),
                        name=spec.option_name or "Title",
                        position=1,
                        values=list(values),
                    )
                ],
                variant_ids=[v.id for v in variants],
            )
            state.add_product(product, variants, items)
            if not spec.shippable:
                continue
            for item in items:
                state.seed_level(InventoryLevel(item.id, location_ids[0], rng.randint(40, 400), at))
                if len(location_ids) > 1 and rng.chance(0.6):
                    state.seed_level(
                        InventoryLevel(item.id, location_ids[1], rng.randint(0, 40), at)
                    )

    # buyers ----------------------------------------------------------------------

    def buyer(self, rng: DeterministicRandom) -> BuyerRequest:
        """A new fake buyer, or (25 %) a returning customer."""
        state = self.state
        if state.customers and rng.chance(0.25):
            customer = rng.choice(state.customer_list)
            return BuyerRequest(
                first_name=customer.first_name or "",
                last_name=customer.last_name or "",
                email=customer.email or "",
                phone=customer.phone,
                address=customer.default_address,
                accepts_marketing=customer.accepts_marketing,
                customer_id=customer.id,
            )
        self._buyer_count += 1
        n = self._buyer_count
        if self.cny:
            family = rng.choice(_CN_FAMILY)
            given = rng.choice(_CN_GIVEN)
            city, province, code, district, zip_code, lat, lng = rng.choice(_CN_CITIES)
            phone = f"+86140{rng.randint(0, 9999):04d}{n % 10000:04d}"
            address = Address(
                first_name=given,
                last_name=family,
                address1=f"{district}{rng.choice(_CN_STREETS)}{rng.randint(1, 999)}号",
                address2=f"{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室",
                city=city,
                province=province,
                province_code=code,
                country="China",
                country_code="CN",
                zip=zip_code,
                phone=phone,
                latitude=lat,
                longitude=lng,
            )
            email = f"buyer{n:05d}@example.{rng.choice(('com', 'net', 'org'))}"
            return BuyerRequest(given, family, email, phone, address, rng.chance(0.3))
        given = rng.choice(_US_GIVEN)
        family = rng.choice(_US_FAMILY)
        city, province, code, zip_code, area, lat, lng = rng.choice(_US_CITIES)
        phone = f"+1{area}5550{rng.randint(100, 199)}"
        address = Address(
            first_name=given,
            last_name=family,
            address1=f"{rng.randint(10, 9899)} {rng.choice(_US_STREETS)} {rng.choice(_US_SUFFIX)}",
            address2=f"Apt {rng.randint(1, 40)}" if rng.chance(0.3) else "",
            city=city,
            province=province,
            province_code=code,
            country="United States",
            country_code="US",
            zip=zip_code,
            phone=phone,
            company=None,
            latitude=lat,
            longitude=lng,
        )
        domain = rng.choice(("example.com", "example.net", "example.org"))
        email = f"{given.lower()}.{family.lower()}{n}@{domain}"
        return BuyerRequest(given, family, email, phone, address, rng.chance(0.35))

    # orders ----------------------------------------------------------------------

    def draft(self, rng: DeterministicRandom, payment: PaymentPlan | None = None) -> OrderDraft:
        """A realistic random order draft."""
        state = self.state
        shippable = [v for v in state.variants.values() if v.requires_shipping]
        gift_cards = [v for v in state.variants.values() if not v.requires_shipping]
        count = rng.weighted(((1, 45.0), (2, 30.0), (3, 17.0), (4, 8.0)))
        chosen = rng.sample(shippable, min(count, len(shippable)))
        if gift_cards and rng.chance(0.06):
            chosen.append(rng.choice(gift_cards))
        lines = [LineRequest(v.id, rng.weighted(((1, 70.0), (2, 22.0), (3, 8.0)))) for v in chosen]
        gross = sum(
            (state.variants[line.variant_id].price * line.quantity for line in lines), Decimal(0)
        )
        options = _CNY_SHIPPING if self.cny else _USD_SHIPPING
        threshold = Decimal("199") if self.cny else Decimal("75")
        if gross >= threshold and rng.chance(0.7):
            shipping = ShippingRequest(
                "包邮" if self.cny else "Free Shipping", "FREE", Decimal("0.00")
            )
        else:
            title, code, price = rng.choice(options)
            shipping = ShippingRequest(title, code, Decimal(price))
        discount = None
        if rng.chance(0.25):
            code, value, kind = rng.choice(_CNY_DISCOUNTS if self.cny else _USD_DISCOUNTS)
            if kind == "shipping":
                discount = DiscountRequest(code, Decimal("100"), "shipping")
            else:
                discount = DiscountRequest(
                    code, Decimal(value), "percentage" if kind == "percentage" else "fixed_amount"
                )
        plans: tuple[tuple[PaymentPlan, float], ...] = (
            ("paid", 78.0),
            ("authorized", 7.0),
            ("pending", 10.0),
            ("partially_paid", 5.0),
        )
        plan = payment if payment is not None else rng.weighted(plans)
        if self.cny:
            gateway = {"pending": "manual"}.get(plan) or rng.choice(("alipay", "wechat_pay"))
        else:
            gateway = {"pending": "manual"}.get(plan) or rng.weighted(
                (("shopify_payments", 80.0), ("paypal", 20.0))
            )
        tags = ", ".join(sorted(rng.sample(_TAGS, rng.randint(1, 2)))) if rng.chance(0.3) else ""
        notes = _CN_NOTES if self.cny else _NOTES
        return OrderDraft(
            lines=lines,
            buyer=self.buyer(rng),
            payment=plan,
            gateway=gateway,
            discount=discount,
            shipping=shipping,
            note=rng.choice(notes) if rng.chance(0.1) else None,
            tags=tags,
            source_name=rng.weighted(
                (("web", 80.0), ("pos", 8.0), ("shopify_draft_order", 7.0), ("iphone", 5.0))
            ),
            browser_ip=f"192.0.2.{rng.randint(1, 254)}",
            customer_locale="zh-CN" if self.cny else "en",
        )

    def tracking(self, rng: DeterministicRandom) -> TrackingInfo:
        if self.cny:
            company = rng.choice(("SF Express", "YTO Express", "ZTO Express"))
            prefix = {"SF Express": "SF", "YTO Express": "YT", "ZTO Express": "7531"}[company]
            return TrackingInfo(f"{prefix}{rng.randint(10**11, 10**12 - 1)}", company)
        company = rng.weighted((("UPS", 45.0), ("USPS", 35.0), ("FedEx", 20.0)))
        if company == "UPS":
            number = "1Z" + rng.alnum(16, "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ")
        elif company == "USPS":
            number = "9400" + "".join(str(rng.randint(0, 9)) for _ in range(18))
        else:
            number = "".join(str(rng.randint(0, 9)) for _ in range(12))
        return TrackingInfo(number, company)

    # lifecycle -------------------------------------------------------------------

    def advance(
        self, order: Order, outcome: Outcome, rng: DeterministicRandom, when: list[datetime]
    ) -> None:
        """Move an order to ``outcome`` at the given follow-up times (may be in the past)."""
        state = self.state
        t1, t2 = when
        if outcome == "cancelled":
            state.cancel_order(
                order.id, reason=rng.choice(("customer", "inventory", "fraud", "other")), at=t1
            )
            return
        if outcome == "open":
            if order.financial_status in ("pending", "authorized") and rng.chance(0.2):
                state.pay(order.id, at=t1)
            return
        if order.financial_status in ("pending", "authorized", "partially_paid"):
            state.pay(order.id, at=t1)
        if outcome == "refunded":
            lines = [
                RefundLineRequest(line.id, order.current_quantity(line.id), "cancel")
                for line in order.line_items
                if order.current_quantity(line.id) > 0
            ]
            state.refund(
                order.id,
                lines,
                shipping="full",
                note="Customer changed their mind",
                source="sandbox",
                at=t2,
            )
            return
        if outcome == "partial":
            units = [
                (line.id, order.fulfillable_quantity(line.id))
                for line in order.line_items
                if order.fulfillable_quantity(line.id) > 0
            ]
            if sum(q for _, q in units) < 2:
                return
            line_id, quantity = units[0]
            part = [(line_id, max(1, quantity - 1))] if len(units) == 1 else [units[0]]
            state.fulfill_lines(
                order.id, part, tracking=self.tracking(rng), source="sandbox", at=t2
            )
            return
        if any(order.fulfillable_quantity(line.id) > 0 for line in order.line_items):
            state.fulfill_lines(
                order.id, None, tracking=self.tracking(rng), source="sandbox", at=t2
            )
        if outcome == "fulfilled_closed":
            state.close_order(order.id, at=t2)
        elif outcome == "partial_refund":
            line = next((li for li in order.line_items if order.current_quantity(li.id) > 0), None)
            if line is not None:
                state.refund(
                    order.id,
                    [RefundLineRequest(line.id, 1, "return")],
                    note="Item returned",
                    source="sandbox",
                    at=t2,
                )


def seed_shop(
    state: ShopifyState, generator: ShopGenerator, *, count: int, days: int, now: datetime
) -> None:
    """Create ``count`` historical orders over the last ``days`` days, without webhooks."""
    rng = generator.rng.child("seed")
    now = whole_seconds(now)
    start = now - timedelta(days=days)
    span = (now - start).total_seconds()
    # Creation times, oldest first so that ids grow with created_at (as on Shopify).
    offsets = sorted(rng.uniform(0, span * 0.97) for _ in range(count))
    with state.quiet():
        for offset in offsets:
            created = whole_seconds(start + timedelta(seconds=offset))
            order = state.place_order(generator.draft(rng), at=created)
            outcome: Outcome = rng.weighted(
                (
                    ("open", 34.0),
                    ("partial", 10.0),
                    ("fulfilled", 24.0),
                    ("fulfilled_closed", 12.0),
                    ("partial_refund", 7.0),
                    ("refunded", 4.0),
                    ("cancelled", 9.0),
                )
            )
            latest = now - timedelta(seconds=60)
            t1 = min(created + timedelta(hours=rng.uniform(0.2, 30)), latest)
            t2 = min(t1 + timedelta(hours=rng.uniform(0.5, 60)), latest)
            t1 = max(t1, created)
            t2 = max(t2, t1)
            try:
                generator.advance(order, outcome, rng, [whole_seconds(t1), whole_seconds(t2)])
            except StateError as exc:  # a generated path the rules refuse: keep the order as is
                logger.debug("seed outcome %s skipped: %s", outcome, exc)


@dataclass(frozen=True)
class StepResult:
    """What one live-stream step did."""

    action: str
    order_id: int | None

    def to_dict(self) -> dict[str, str | int | None]:
        return {"action": self.action, "order_id": self.order_id}


class LiveStream:
    """Background generator of new orders and status changes."""

    def __init__(
        self, state: ShopifyState, generator: ShopGenerator, rng: DeterministicRandom, rate: float
    ) -> None:
        self.state = state
        self.generator = generator
        self.rng = rng
        self.rate = rate
        self.steps = 0

    def new_order(self, payment: PaymentPlan | None = None) -> Order:
        return self.state.place_order(self.generator.draft(self.rng, payment))

    def step(self) -> StepResult:
        """Do one thing: place an order (about half the steps) or move an existing one."""
        self.steps += 1
        rng = self.rng
        state = self.state
        if rng.chance(0.5) or not state.orders:
            order = self.new_order()
            return StepResult("create", order.id)
        action = rng.weighted(
            (
                ("pay", 20.0),
                ("fulfill_partial", 15.0),
                ("fulfill", 25.0),
                ("refund", 10.0),
                ("cancel", 10.0),
                ("close", 20.0),
            )
        )
        with state.lock:
            # Orders are kept in creation order: the newest 200 are the candidates.
            recent = list(itertools.islice(reversed(state.orders.values()), 200))
            live = [o for o in recent if o.cancelled_at is None]
            candidates: list[Order]
            if action == "pay":
                candidates = [
                    o
                    for o in live
                    if o.financial_status in ("pending", "authorized", "partially_paid")
                ]
            elif action in ("fulfill", "fulfill_partial"):
                candidates = [
                    o
                    for o in live
                    if o.financial_status == "paid"
                    and sum(o.fulfillable_quantity(li.id) for li in o.line_items)
                    >= (2 if action == "fulfill_partial" else 1)
                ]
            elif action == "refund":
                candidates = [
                    o for o in live if o.financial_status in ("paid", "partially_refunded")
                ]
            elif action == "cancel":
                candidates = [o for o in live if not o.fulfillments and o.closed_at is None]
            else:
                candidates = [
                    o for o in live if o.closed_at is None and o.fulfillment_status == "fulfilled"
                ]
            if not candidates:
                order = self.new_order()
                return StepResult("create", order.id)
            order = rng.choice(candidates)
            try:
                if action == "pay":
                    state.pay(order.id)
                elif action == "fulfill":
                    state.fulfill_lines(order.id, None, tracking=self.generator.tracking(rng))
                elif action == "fulfill_partial":
                    line = next(
                        li for li in order.line_items if order.fulfillable_quantity(li.id) > 0
                    )
                    quantity = order.fulfillable_quantity(line.id)
                    part = max(1, quantity - 1) if quantity > 1 else 1
                    state.fulfill_lines(
                        order.id, [(line.id, part)], tracking=self.generator.tracking(rng)
                    )
                elif action == "refund":
                    returned = next(
                        (li for li in order.line_items if order.current_quantity(li.id) > 0), None
                    )
                    if returned is None:
                        return StepResult("noop", order.id)
                    state.refund(
                        order.id,
                        [RefundLineRequest(returned.id, 1, "return")],
                        note="Return received",
                        source="sandbox",
                    )
                elif action == "cancel":
                    state.cancel_order(
                        order.id, reason=rng.choice(("customer", "inventory", "other"))
                    )
                else:
                    state.close_order(order.id)
            except StateError as exc:
                logger.debug("live step %s skipped: %s", action, exc)
                return StepResult("noop", order.id)
            return StepResult(action, order.id)


def _handle(title: str) -> str:
    cleaned = "".join(ch.lower() if ch.isalnum() else "-" for ch in title)
    return "-".join(part for part in cleaned.split("-") if part)


def _sku_part(value: str, position: int) -> str:
    ascii_part = "".join(ch for ch in value.upper() if ch.isascii() and ch.isalnum())
    return ascii_part[:4] if ascii_part else f"V{position}"
