"""Real-shaped unified orders for storage and API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shopbridge.core import Order

BASE_TIME = datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)


def order_doc(platform_order_id: str = "3028689418086124", **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "shop_id": "shop_placeholder",
        "platform": "taobao",
        "platform_order_id": platform_order_id,
        "status": "awaiting_shipment",
        "native_status": "WAIT_SELLER_SEND_GOODS",
        "currency": "CNY",
        "lines": [
            {
                "native_id": f"{platform_order_id}01",
                "sku": "TS-BLK-L",
                "title": "纯棉T恤",
                "variant_title": "颜色:黑;尺码:L",
                "quantity": 2,
                "unit_price": {"amount": "59.00", "currency": "CNY"},
                "discount": {"amount": "10.00", "currency": "CNY"},
                "total": {"amount": "108.00", "currency": "CNY"},
            }
        ],
        "receiver": {
            "name": "欧阳娜娜",
            "phone": "13812345678",
            "address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "lines": ["文三路 478 号 华星科技大厦 7 楼"],
                "postal_code": "310012",
            },
            "oaid": "1a2b3c4d5e6f",
        },
        "subtotal": {"amount": "118.00", "currency": "CNY"},
        "shipping_fee": {"amount": "0.00", "currency": "CNY"},
        "discount_total": {"amount": "10.00", "currency": "CNY"},
        "total": {"amount": "108.00", "currency": "CNY"},
        "placed_at": BASE_TIME.isoformat(),
        "platform_updated_at": BASE_TIME.isoformat(),
        "extensions": {"seller_flag": 1},
        "raw": {
            "tid": platform_order_id,
            "receiver_name": "欧阳娜娜",
            "status": "WAIT_SELLER_SEND_GOODS",
        },
    }
    doc.update(overrides)
    return doc


def make_order(platform_order_id: str = "3028689418086124", **overrides: Any) -> Order:
    return Order.model_validate(order_doc(platform_order_id, **overrides))


def later(minutes: int) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat()
