"""Shopify's sandbox, driven through its control API, for the conformance suite."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.types import ASGIApp

from shopbridge.connectors import ShopContext, StockUpdate
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from tests.conformance.harness import (
    NativeFacts,
    PlatformHarness,
    SandboxListing,
    ShipmentState,
)

TOKEN = "shpat_conformance_0001"
SECRET = "conformance-app-secret"
SHOP = "conformance.myshopify.com"


class ShopifyHarness(PlatformHarness):
    platform = "shopify"
    unsupported_carrier = "ZTO"  # not on Shopify's tracking company list

    def create_app(self) -> ASGIApp:
        return create_app(
            ShopifySandboxOptions(
                access_token=TOKEN, app_secret=SECRET, shop_domain=SHOP, seed=0, random_seed=11
            )
        )

    def shop_context(self) -> ShopContext:
        return ShopContext(
            shop_id="shop_conformance",
            platform_shop_id=SHOP,
            credentials={"access_token": TOKEN, "app_secret": SECRET},
            settings={"api_version": "2026-10", "page_size": self.page_size},
            base_url=self.base_url,
        )

    async def reset(self) -> None:
        await self.call("POST", "/reset", json={"seed": 0})
        await self.call("DELETE", "/faults")
        await self.call("POST", "/rate_limit", json={"level": 0})

    async def create_orders(self, count: int) -> list[str]:
        created = await self.call("POST", "/orders", json={"count": count, "payment": "paid"})
        return [str(order["id"]) for order in created["orders"]]

    async def change_order(self, platform_order_id: str) -> None:
        await self.call("POST", f"/orders/{platform_order_id}/fulfill")

    async def cancel(self, platform_order_id: str) -> None:
        await self.call(
            "POST",
            f"/orders/{platform_order_id}/cancel",
            json={"reason": "customer", "refund": True},
        )

    async def _lines(self, platform_order_id: str) -> list[dict[str, Any]]:
        order = await self.call("GET", f"/orders/{platform_order_id}")
        lines: list[dict[str, Any]] = order.get("order", order)["line_items"]
        return lines

    async def refund(self, platform_order_id: str) -> None:
        lines = [
            {"line_item_id": line["id"], "quantity": line["quantity"]}
            for line in await self._lines(platform_order_id)
        ]
        await self.call(
            "POST",
            f"/orders/{platform_order_id}/refund",
            json={"line_items": lines, "shipping": True},
        )

    async def native_facts(self, platform_order_id: str) -> NativeFacts:
        order = await self.call("GET", f"/orders/{platform_order_id}")
        order = order.get("order", order)
        return NativeFacts(
            platform_order_id=str(order["id"]),
            total=Decimal(order["total_price"]),
            currency=order["currency"],
            updated_at=datetime.fromisoformat(order["updated_at"]),
            line_count=len(order["line_items"]),
        )

    async def orders_in_every_state(self) -> list[str]:
        ids = await self.create_orders(9)
        pending = await self.call("POST", "/orders", json={"count": 1, "payment": "pending"})
        authorized = await self.call("POST", "/orders", json={"count": 1, "payment": "authorized"})
        partially = await self.call(
            "POST", "/orders", json={"count": 1, "payment": "partially_paid"}
        )
        ids += [
            str(o["id"]) for o in pending["orders"] + authorized["orders"] + partially["orders"]
        ]
        await self.call("POST", f"/orders/{ids[0]}/fulfill")
        first_line = (await self._lines(ids[1]))[0]
        await self.call(
            "POST",
            f"/orders/{ids[1]}/fulfill",
            json={"line_items": [{"line_item_id": first_line["id"], "quantity": 1}]},
        )
        await self.cancel(ids[2])
        await self.refund(ids[3])
        await self.call("POST", f"/orders/{ids[4]}/fulfill")
        await self.call("POST", f"/orders/{ids[4]}/close")
        line = (await self._lines(ids[5]))[0]
        await self.call(
            "POST",
            f"/orders/{ids[5]}/refund",
            json={"line_items": [{"line_item_id": line["id"], "quantity": 1}]},
        )
        await self.call(
            "POST", f"/orders/{ids[6]}/cancel", json={"reason": "fraud", "refund": False}
        )
        return ids

    def malformed_payload(self) -> Any:
        return {"id": 1, "total_price": "not-money", "currency": "USD", "line_items": "nope"}

    async def _place(self, **body: Any) -> str:
        created = await self.call("POST", "/orders", json={"count": 1, **body})
        return str(created["orders"][0]["id"])

    async def orders_of_every_kind(self) -> dict[str, str]:
        kinds = {
            "web": await self._place(payment="paid", source_name="web"),
            "pos": await self._place(payment="paid", source_name="pos"),
            "draft_order": await self._place(payment="paid", source_name="shopify_draft_order"),
            "mobile_app": await self._place(payment="paid", source_name="iphone"),
            "test": await self._place(payment="paid", test=True),
            "pending_payment": await self._place(payment="pending"),
            "authorized": await self._place(payment="authorized"),
            "partially_paid": await self._place(payment="partially_paid"),
            "cancelled": await self._place(payment="paid"),
            "archived": await self._place(payment="paid"),
            "refunded": await self._place(payment="paid"),
        }
        await self.cancel(kinds["cancelled"])
        await self.call("POST", f"/orders/{kinds['archived']}/fulfill")
        await self.call("POST", f"/orders/{kinds['archived']}/close")
        await self.refund(kinds["refunded"])
        return kinds

    async def _products(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call("GET", "/products"))["products"]
        return found

    async def _primary_location(self) -> str:
        state = await self.call("GET", "/state")
        return str(state["locations"][0]["id"])

    async def paid_order(self, line_count: int = 1) -> str:
        primary = await self._primary_location()
        variants = [
            variant
            for product in await self._products()
            if product["status"] == "active"
            for variant in product["variants"]
            if any(
                str(level["location_id"]) == primary and level["available"] >= 2
                for level in variant["levels"]
            )
        ]
        lines = [{"variant_id": v["id"], "quantity": 1} for v in variants[:line_count]]
        assert len(lines) == line_count, "not enough stocked variants"
        return await self._place(payment="paid", line_items=lines)

    async def shipment_state(self, platform_order_id: str) -> ShipmentState:
        order = (await self.call("GET", f"/orders/{platform_order_id}"))["order"]
        states: dict[str | None, ShipmentState] = {
            None: "unshipped",
            "partial": "partial",
            "fulfilled": "shipped",
        }
        return states[order["fulfillment_status"]]

    async def seed_listing(self, skus: Mapping[str, int], *, active: bool = True) -> str:
        product = await self.call(
            "POST",
            "/products",
            json={
                "title": f"Conformance {next(iter(skus))}",
                "status": "active" if active else "draft",
                "option_name": "Size",
                "variants": [
                    {"sku": code, "available": quantity} for code, quantity in skus.items()
                ],
            },
        )
        return str(product["product"]["id"])

    async def sandbox_listings(self) -> list[SandboxListing]:
        return [
            SandboxListing(
                platform_listing_id=str(product["id"]),
                platform_sku_id=str(variant["inventory_item_id"]),
                merchant_sku=variant["sku"] or None,
                quantity=int(variant["available"]),
            )
            for product in await self._products()
            if product["status"] == "active"
            for variant in product["variants"]
        ]

    async def shipments(self, platform_order_id: str) -> list[str]:
        found = await self.call("GET", "/shipments", params={"order_id": platform_order_id})
        items = found.get("shipments", found) if isinstance(found, dict) else found
        numbers: list[str] = []
        for shipment in items:
            tracking = shipment.get("tracking_numbers") or [shipment.get("tracking_number")]
            numbers += [str(n) for n in tracking if n]
        return numbers

    async def _inventory(self) -> list[dict[str, Any]]:
        found = await self.call("GET", "/inventory")
        items: list[dict[str, Any]] = found["inventory"]
        return items

    async def stock_update(self) -> StockUpdate:
        item = (await self._inventory())[0]
        return StockUpdate(
            platform_listing_id=str(item["product_id"]),
            platform_sku_id=str(item["inventory_item_id"]),
            quantity=7,
            location_id=str(item["levels"][0]["location_id"]),
        )

    async def stock_set(self, update: StockUpdate) -> int | None:
        # Without a location the connector sets the first active location (the primary one).
        location = update.location_id or await self._primary_location()
        for item in await self._inventory():
            if str(item["inventory_item_id"]) != update.platform_sku_id:
                continue
            for level in item["levels"]:
                if str(level["location_id"]) == location:
                    return int(level["available"])
        return None

    async def inject(self, kind: str, count: int = 1) -> None:
        rule = {
            "unavailable": {"kind": "error", "status": 503},
            "rate_limit": {"kind": "rate_limit"},
            "auth_expired": {"kind": "auth_expired"},
        }[kind]
        await self.call("POST", "/faults", json={**rule, "count": count})

    async def exhaust_rate_limit(self) -> None:
        state = await self.call("GET", "/rate_limit")
        await self.call("POST", "/rate_limit", json={"level": state["bucket_size"]})

    def push(self, body: dict[str, Any], *, valid_signature: bool) -> tuple[dict[str, str], bytes]:
        raw = json.dumps(body).encode()
        secret = SECRET if valid_signature else "not-the-secret"
        digest = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
        return (
            {
                "X-Shopify-Hmac-Sha256": digest,
                "X-Shopify-Topic": "orders/updated",
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
                "X-Shopify-API-Version": "2026-10",
                "Content-Type": "application/json",
            },
            raw,
        )
