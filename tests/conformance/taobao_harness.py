"""Taobao's TOP sandbox, driven through its control API, for the conformance suite."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from starlette.types import ASGIApp

from shopbridge.connectors import ShopContext, StockUpdate
from shopbridge.connectors.registry import connector_class
from shopbridge.sandbox.taobao import app as taobao_sandbox
from tests.conformance.harness import (
    NativeFacts,
    PlatformHarness,
    SandboxListing,
    ShipmentState,
)

APP_KEY = "23456789"
SECRET = "conformance-top-secret"
SESSION = "6100conformance0session"
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATES = [
    {"status": "WAIT_BUYER_PAY"},
    {"status": "WAIT_SELLER_SEND_GOODS"},
    {"status": "SELLER_CONSIGNED_PART", "line_count": 2},
    {"status": "WAIT_BUYER_CONFIRM_GOODS"},
    {"status": "TRADE_BUYER_SIGNED"},
    {"status": "TRADE_FINISHED"},
    {"status": "TRADE_CLOSED"},
    {"status": "TRADE_CLOSED_BY_TAOBAO"},
    {"status": "PAID_FORBID_CONSIGN"},
    {"type": "step", "step_trade_status": "FRONT_PAID_FINAL_NOPAID"},
    {"type": "step", "step_trade_status": "FRONT_NOPAID_FINAL_NOPAID"},
]
KINDS: dict[str, dict[str, Any]] = {
    "fixed": {"type": "fixed"},
    "auction": {"type": "auction"},
    "presale_unpaid": {"type": "step"},
    "presale_deposit_paid": {"type": "step", "step_trade_status": "FRONT_PAID_FINAL_NOPAID"},
    "presale_balance_paid": {"type": "step", "step_trade_status": "FRONT_PAID_FINAL_PAID"},
    "cash_on_delivery": {"type": "cod"},
    "ec": {"type": "ec"},
    "auto_delivery": {"type": "auto_delivery"},
    "tmall_global": {"type": "tmall_i18n"},
    "pre_auth_waiting": {"status": "WAIT_PRE_AUTH_CONFIRM"},
    "pre_auth_paid": {"type": "pre_auth_type"},
}
"""Every trade type the sandbox creates (TOP lists some only when asked by `type`)."""
SHIPMENT_STATES: dict[str, ShipmentState] = {
    "WAIT_SELLER_SEND_GOODS": "unshipped",
    "SELLER_CONSIGNED_PART": "partial",
    "WAIT_BUYER_CONFIRM_GOODS": "shipped",
    "TRADE_BUYER_SIGNED": "shipped",
    "TRADE_FINISHED": "shipped",
}


class TaobaoHarness(PlatformHarness):
    platform = "taobao"
    tracking_number = "SF1234567890123"
    unsupported_carrier = "UPS"  # no confirmed Taobao company_code

    def create_app(self) -> ASGIApp:
        return taobao_sandbox.create_app(
            taobao_sandbox.Options(
                app_key=APP_KEY, app_secret=SECRET, access_token=SESSION, seed=0, random_seed=23
            )
        )

    def shop_context(self) -> ShopContext:
        return ShopContext(
            shop_id="shop_conformance",
            platform_shop_id="演示小店",
            credentials={"app_key": APP_KEY, "app_secret": SECRET, "session": SESSION},
            settings={"page_size": self.page_size},
            base_url=self.base_url,
        )

    async def reset(self) -> None:
        await self.call("POST", "/reset", json={"seed": 0})
        await self.call("DELETE", "/faults")
        # The platform's call limit, set to what the connector declares (per second).
        limit = connector_class(self.platform).info.rate_limit
        await self.call(
            "POST",
            "/rate_limit",
            json={
                "call_limit": limit.burst + math.ceil(limit.rate),
                "window_seconds": 1,
                "reset": True,
            },
        )

    async def _create(self, count: int, **spec: Any) -> list[str]:
        created = await self.call("POST", "/trades", json={"count": count, **spec})
        return [str(trade["tid_str"]) for trade in created["trades"]]

    async def create_orders(self, count: int) -> list[str]:
        return await self._create(count)

    async def _trade(self, tid: str) -> dict[str, Any]:
        trade: dict[str, Any] = (await self.call("GET", f"/trades/{tid}"))["trade"]
        return trade

    async def change_order(self, platform_order_id: str) -> None:
        await self.call("POST", f"/trades/{platform_order_id}/ship", json={})

    async def create_cancellable_order(self) -> str:
        # Taobao cancels only unpaid trades (closed by the seller or timed out: a paid trade
        # ends through refunds, as TRADE_CLOSED).
        [tid] = await self._create(1, status="WAIT_BUYER_PAY")
        return tid

    async def cancel(self, platform_order_id: str) -> None:
        await self.call("POST", f"/trades/{platform_order_id}/close")

    async def refund(self, platform_order_id: str) -> None:
        trade = await self._trade(platform_order_id)
        oid = str(trade["orders"]["order"][0]["oid_str"])
        refund = await self.call("POST", f"/trades/{platform_order_id}/refunds", json={"oid": oid})
        refund_id = refund.get("refund", refund).get("refund_id")
        await self.call("POST", f"/refunds/{refund_id}/agree")

    async def native_facts(self, platform_order_id: str) -> NativeFacts:
        trade = await self._trade(platform_order_id)
        return NativeFacts(
            platform_order_id=str(trade["tid_str"]),
            total=Decimal(trade["payment"]),
            currency="CNY",
            updated_at=datetime.strptime(trade["modified"], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=SHANGHAI
            ),
            line_count=len(trade["orders"]["order"]),
        )

    async def orders_in_every_state(self) -> list[str]:
        ids: list[str] = []
        for spec in STATES:
            ids += await self._create(1, **spec)
        return ids

    async def orders_of_every_kind(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for kind, spec in KINDS.items():
            [kinds[kind]] = await self._create(1, **spec)
        return kinds

    async def paid_order(self, line_count: int = 1) -> str:
        [tid] = await self._create(1, line_count=line_count)
        return tid

    async def shipment_state(self, platform_order_id: str) -> ShipmentState:
        return SHIPMENT_STATES[(await self._trade(platform_order_id))["status"]]

    async def seed_listing(self, skus: Mapping[str, int], *, active: bool = True) -> str:
        codes = list(skus)
        body: dict[str, Any] = {
            "title": f"一致性测试商品 {codes[0]}",
            "approve_status": "onsale" if active else "instock",
        }
        if len(codes) == 1:
            body |= {"outer_id": codes[0], "quantity": skus[codes[0]]}
        else:
            body["skus"] = [{"outer_id": code, "quantity": skus[code]} for code in codes]
        item = (await self.call("POST", "/items", json=body))["item"]
        return str(item["num_iid"])

    async def sandbox_listings(self) -> list[SandboxListing]:
        listings: list[SandboxListing] = []
        for item in (await self.call("GET", "/stock"))["items"]:
            if item["approve_status"] != "onsale":
                continue
            if not item["skus"]:
                listings.append(
                    SandboxListing(
                        str(item["num_iid"]), None, item["outer_id"] or None, int(item["num"])
                    )
                )
            listings += [
                SandboxListing(
                    str(item["num_iid"]),
                    str(sku["sku_id"]),
                    sku["outer_id"] or None,
                    int(sku["quantity"]),
                )
                for sku in item["skus"]
            ]
        return listings

    def malformed_payload(self) -> Any:
        return {
            "tid": "not-a-number",
            "status": "WAIT_SELLER_SEND_GOODS",
            "payment": "12,5",
            "orders": 3,
        }

    async def shipments(self, platform_order_id: str) -> list[str]:
        found = await self.call("GET", "/shipments", params={"tid": platform_order_id})
        return [str(s["out_sid"]) for s in found["shipments"] if s.get("out_sid")]

    async def stock_update(self) -> StockUpdate:
        item = (await self.call("GET", "/stock"))["items"][0]
        sku = item["skus"][0]
        return StockUpdate(
            platform_listing_id=str(item["num_iid"]), platform_sku_id=str(sku["sku_id"]), quantity=7
        )

    async def stock_set(self, update: StockUpdate) -> int | None:
        for item in (await self.call("GET", "/stock"))["items"]:
            if str(item["num_iid"]) != update.platform_listing_id:
                continue
            if update.platform_sku_id is None:
                return int(item["num"])
            for sku in item["skus"]:
                if str(sku["sku_id"]) == update.platform_sku_id:
                    return int(sku["quantity"])
        return None

    async def inject(self, kind: str, count: int = 1) -> None:
        rule = {
            "unavailable": {"kind": "error"},
            "rate_limit": {"kind": "rate_limit", "seconds": 1},
            "auth_expired": {"kind": "auth_expired"},
        }[kind]
        await self.call("POST", "/faults", json={**rule, "count": count})

    async def exhaust_rate_limit(self) -> None:
        await self.call("POST", "/rate_limit", json={"ban": 1})

    def push(self, body: dict[str, Any], *, valid_signature: bool) -> tuple[dict[str, str], bytes]:
        message = {
            "id": "2004012345678901234",
            "topic": "taobao_trade_TradeChanged",
            "pub_app_key": "12497914",
            "pub_time": "2026-11-11 00:00:05",
            "user_id": 2201234567890,
            "user_nick": "演示小店",
            "content": json.dumps(
                {"tid": body["tid"], "status": body["status"], "payment": body["payment"]},
                ensure_ascii=False,
            ),
        }
        raw = json.dumps(message, ensure_ascii=False).encode()
        secret = SECRET if valid_signature else "not-the-secret"
        sign = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest().upper()
        return {"Content-Type": "application/json", "X-Shopbridge-Tmc-Sign": sign}, raw
