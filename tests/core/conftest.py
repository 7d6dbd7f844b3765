from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def order_doc() -> dict[str, Any]:
    """A realistic Taobao order as storage would hold it (`model_dump(mode="json")`)."""
    return {
        "shop_id": "shop_01",
        "platform": "taobao",
        "platform_order_id": "3028689418086124",
        "status": "awaiting_shipment",
        "native_status": "WAIT_SELLER_SEND_GOODS",
        "currency": "CNY",
        "lines": [
            {
                "native_id": "3028689418096124",
                "sku": "TS-BLK-L",
                "platform_product_id": "600000000001",
                "platform_variant_id": "4800000000001",
                "title": "纯棉T恤",
                "variant_title": "颜色:黑;尺码:L",
                "quantity": 2,
                "unit_price": {"amount": "59.00", "currency": "CNY"},
                "discount": {"amount": "10.00", "currency": "CNY"},
                "total": {"amount": "108.00", "currency": "CNY"},
                "native_status": "WAIT_SELLER_SEND_GOODS",
                "native_refund_status": "NO_REFUND",
            }
        ],
        "buyer": {"nickname": "t**1", "platform_buyer_id": "AAHk5d-EAAeGwJedwSHpg8bT"},
        "receiver": {
            "name": "欧阳娜娜",
            "phone": "13812345678",
            "email": "alice@example.com",
            "address": {
                "country": "CN",
                "province": "浙江省",
                "city": "杭州市",
                "district": "西湖区",
                "lines": ["文三路 478 号 华星科技大厦 7 楼"],
                "postal_code": "310012",
            },
            "oaid": "1a2b3c4d5e6f",
            "pii_form": "plain",
        },
        "subtotal": {"amount": "118.00", "currency": "CNY"},
        "shipping_fee": {"amount": "0.00", "currency": "CNY"},
        "discount_total": {"amount": "10.00", "currency": "CNY"},
        "total": {"amount": "108.00", "currency": "CNY"},
        "placed_at": "2026-11-10T16:00:05Z",
        "paid_at": "2026-11-10T16:00:30Z",
        "extensions": {"seller_flag": 1, "step_trade_status": None},
        "raw": {"tid": 3028689418086124, "receiver_name": "欧阳娜娜"},
    }
