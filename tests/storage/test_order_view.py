"""`order_view` (how webhooks and the feed show an order) must equal what the model itself
dumps, masked and revealed, for every real-shaped order we have."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shopbridge.connectors.shopify.mapping import map_order as map_shopify
from shopbridge.connectors.taobao.mapping import map_order as map_taobao
from shopbridge.core import Order
from shopbridge.storage.vault import order_view
from tests.factories import order_doc

PAYLOADS = Path(__file__).parents[1] / "connectors"


def _orders() -> list[tuple[str, Order]]:
    found: list[tuple[str, Order]] = []
    for platform, mapper in (("shopify", map_shopify), ("taobao", map_taobao)):
        for path in sorted((PAYLOADS / platform / "payloads").glob("*.json")):
            try:
                found.append(
                    (
                        f"{platform}/{path.stem}",
                        mapper(json.loads(path.read_text()), shop_id="shop_1"),
                    )
                )
            except Exception:  # catalog payloads, not orders
                continue
    doc = order_doc(
        buyer={
            "name": "王小明",
            "phone": "13900001111",
            "email": "wang@example.com",
            "nickname": "tb_wang",
            "address": {"country": "CN", "lines": ["滨江区 1 号"], "postal_code": "310051"},
        },
        invoice_request={
            "title_type": "individual",
            "personal_name": "王小明",
            "email": "wang@example.com",
            "phone": "13900001111",
            "raw": {"invoice_name": "王小明"},
        },
    )
    doc["lines"][0]["raw"] = {"oid": "1", "title": "纯棉T恤"}
    found.append(("factory/full", Order.model_validate(doc)))
    return found


ORDERS = _orders()


def test_the_corpus_covers_every_personal_field_kind() -> None:
    assert len(ORDERS) >= 15
    masked = [order_view(o.model_dump(mode="json"), reveal=False) for _, o in ORDERS]
    assert any(m.get("invoice_request") for m in masked)
    assert any((m.get("buyer") or {}).get("email") for m in masked)


@pytest.mark.parametrize(("name", "order"), ORDERS, ids=[name for name, _ in ORDERS])
@pytest.mark.parametrize("reveal", [False, True])
def test_view_equals_the_model_dump(name: str, order: Order, reveal: bool) -> None:
    stored: dict[str, Any] = order.model_dump(mode="json")
    stored.pop("raw")  # kept apart in storage
    before = json.dumps(stored, sort_keys=True)
    expected = Order.model_validate(stored).model_dump(
        mode="json", exclude={"raw"}, context={"mask_pii": not reveal}
    )
    assert order_view(stored, reveal=reveal) == expected
    assert json.dumps(stored, sort_keys=True) == before  # the stored document is untouched
