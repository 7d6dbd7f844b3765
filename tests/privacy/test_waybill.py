"""Privacy shipping end to end: the real app and database, the Taobao (and Shopify) sandbox
over HTTP. The buyer's plaintext is known only to the sandbox; the tests prove it never
travels to the platform in a waybill request and never lands in ShopBridge's database, and
that decryption is scoped, reasoned, rate limited and audited."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from shopbridge.connectors import ShopContext
from shopbridge.connectors.base import (
    DECRYPT_SCENES,
    ReceiverQuery,
    ReceiverRegion,
    WaybillAddress,
    WaybillItem,
    WaybillPackage,
    WaybillRequest,
    WaybillSender,
)
from shopbridge.connectors.registry import connector_class
from shopbridge.connectors.taobao.privacy import SCENE_CODES, waybill_param
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions
from shopbridge.sandbox.shopify import create_app as shopify_app
from shopbridge.sandbox.taobao import TaobaoSandboxOptions
from shopbridge.sandbox.taobao import create_app as taobao_app
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import open_credentials
from shopbridge.storage.tables import AuditRow, Base, ShopRow, WaybillRow
from tests.conftest import TenantClient

PROBLEM = "urn:shopbridge:problem:"
TB_KEY = "31415926"
TB_SECRET = "privacy-taobao-secret"
TB_SESSION = "6100privacy0session"
SHOPIFY_TOKEN = "shpat_privacy_test"
SHOPIFY_SECRET = "privacy-shopify-secret"
TEMPLATE = "http://cloudprint.cainiao.com/template/standard/101"
REASON = {"Reveal-Reason": "ticket CS-2041: courier cannot reach the buyer"}
HANZI = "明月清风朗星晨曦秋水春山云海松竹梅兰菊"


# --- sandboxes and shops -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tb_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        taobao_app(
            TaobaoSandboxOptions(
                app_key=TB_KEY, app_secret=TB_SECRET, access_token=TB_SESSION, seed=0
            )
        )
    )
    yield server
    server.stop()


@pytest.fixture
def tb(tb_sandbox: RunningServer) -> Iterator[httpx.Client]:
    """The Taobao sandbox's control API, reset."""
    with httpx.Client(base_url=f"{tb_sandbox.base_url}/_sandbox", timeout=30) as client:
        client.post("/reset", json={"seed": 0}).raise_for_status()
        yield client


@pytest.fixture(scope="module")
def shopify_sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        shopify_app(
            ShopifySandboxOptions(
                access_token=SHOPIFY_TOKEN, app_secret=SHOPIFY_SECRET, seed=0, random_seed=5
            )
        )
    )
    yield server
    server.stop()


@dataclass
class Shop:
    id: str
    client: TenantClient
    control: httpx.Client


async def _connect(client: TenantClient, body: dict[str, Any]) -> str:
    resp = await client.post("/v1/shops", json=body)
    assert resp.status_code == 201, resp.text
    shop_id: str = resp.json()["id"]
    return shop_id


@pytest.fixture
async def taobao_shop(tenant: TenantClient, tb_sandbox: RunningServer, tb: httpx.Client) -> Shop:
    body = {
        "platform": "taobao",
        "platform_shop_id": "2201234567890",
        "display_name": "Privacy Taobao",
        "credentials": {"app_key": TB_KEY, "app_secret": TB_SECRET, "session": TB_SESSION},
        "settings": {"base_url": tb_sandbox.base_url},
    }
    return Shop(await _connect(tenant, body), tenant, tb)


async def _import(app: FastAPI, shop_id: str, platform_order_id: str) -> str:
    """Fetch one order through the shop's connector and store it, as the sync does."""
    async with app.state.db.read() as session:
        row = await session.get(ShopRow, shop_id)
    assert row is not None
    connector = connector_class(row.platform)(
        ShopContext(
            shop_id=row.id,
            platform_shop_id=row.platform_shop_id,
            credentials=open_credentials(app.state.box, row),
            settings=dict(row.settings),
            base_url=row.settings["base_url"],
        )
    )
    try:
        order = await connector.get_order(platform_order_id)
    finally:
        await connector.aclose()
    async with app.state.db.transaction() as session:
        result = await OrderRepository(session, row.tenant_id).upsert(row, order)
    return result.order_id


def _buyer() -> dict[str, str]:
    """A recipient nobody else uses: only the sandbox ever knows it in plaintext."""
    given = "".join(secrets.choice(HANZI) for _ in range(3))
    return {
        "name": f"欧阳{given}",
        "mobile": "139" + str(secrets.randbelow(10**8)).zfill(8),
        "phone": "0571-" + str(secrets.randbelow(10**8)).zfill(8),
        "state": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "town": "文新街道",
        "address": f"文一西路{secrets.randbelow(9000) + 1000}号{given}苑3幢",
    }


@dataclass
class TaobaoOrder:
    id: str
    tid: str
    buyer: dict[str, str]
    trade: dict[str, Any]


async def _taobao_order(app: FastAPI, shop: Shop, **extra: Any) -> TaobaoOrder:
    buyer = _buyer()
    created = shop.control.post("/trades", json={"count": 1, "buyer": buyer, **extra})
    created.raise_for_status()
    trade = created.json()["trades"][0]
    order_id = await _import(app, shop.id, trade["tid_str"])
    return TaobaoOrder(order_id, trade["tid_str"], buyer, trade)


def _waybill_body(
    package_id: str | None = "PKG_1", carrier: str = "SF", **extra: Any
) -> dict[str, Any]:
    package: dict[str, Any] = {
        "items": [{"name": "纯棉T恤 L", "quantity": 2}],
        "weight_g": 480,
        "volume_ml": 3000,
    }
    if package_id is not None:
        package["id"] = package_id
    return {
        "carrier": carrier,
        "sender": {
            "name": "杭州一号仓",
            "mobile": "13000000000",
            "address": {
                "province": "浙江省",
                "city": "杭州市",
                "district": "余杭区",
                "detail": "良睦路1号",
            },
        },
        "package": package,
        "template_url": TEMPLATE,
        **extra,
    }


def _plaintext(buyer: dict[str, str]) -> list[str]:
    return [
        buyer["name"],
        buyer["mobile"],
        buyer["phone"],
        buyer["phone"].replace("-", ""),
        buyer["address"],
    ]


async def _database_text(app: FastAPI) -> str:
    """Every value of every table, as stored, as one text (JSON both as stored and decoded,
    bytes as UTF-8): what an attacker with the database file would read."""
    parts: list[str] = []
    async with app.state.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = (await conn.execute(text(f'SELECT * FROM "{table.name}"'))).all()
            for row in rows:
                for value in row:
                    if value is None:
                        continue
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value).decode("utf-8", errors="ignore"))
                        continue
                    if isinstance(value, dict | list):
                        parts.append(json.dumps(value, ensure_ascii=False))
                        continue
                    value = str(value)
                    parts.append(value)
                    if value[:1] in "[{":
                        with contextlib.suppress(ValueError):
                            parts.append(json.dumps(json.loads(value), ensure_ascii=False))
    return "\n".join(parts)


@dataclass
class Key:
    id: str
    headers: dict[str, str]


async def _new_key(client: TenantClient, *scopes: str) -> Key:
    """Another key of the client's tenant (a WMS gets only what it needs)."""
    resp = await client.post(
        "/v1/api-keys", json={"name": f"wms-{secrets.token_hex(3)}", "scopes": list(scopes)}
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return Key(body["id"], {"Authorization": f"Bearer {body['key']}"})


# --- waybills ----------------------------------------------------------------------------------


async def test_waybill_by_oaid_never_sends_or_stores_plaintext(
    app: FastAPI, taobao_shop: Shop, tb: httpx.Client
) -> None:
    order = await _taobao_order(app, taobao_shop)
    client = taobao_shop.client
    resp = await client.post(f"/v1/orders/{order.id}/waybill", json=_waybill_body())
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["order_id"] == order.id and body["shop_id"] == taobao_shop.id
    assert (body["carrier"], body["platform_carrier_code"]) == ("SF", "SF")
    assert body["waybill_number"].startswith("SF") and len(body["waybill_number"]) == 15
    assert body["parent_waybill_number"] is None
    assert (body["package_id"], body["print_format"], body["state"]) == (
        "PKG_1",
        "cainiao-cloudprint",
        "issued",
    )
    assert body["id"].startswith("wb_")
    print_data = json.loads(body["print_data"])
    assert set(print_data) == {"encryptedData", "signature", "templateURL", "ver"}
    assert print_data["templateURL"] == TEMPLATE
    for value in _plaintext(order.buyer):
        assert value not in resp.text

    # On the wire: OAID + tid, no plaintext, no violation.
    seen = tb.get("/waybills", params={"tid": order.tid}).json()
    assert seen["plaintext_violations"] == 0
    (request,) = seen["requests"]
    assert request["accepted"] and request["used_oaid"] and request["recipient_modes"] == ["oaid"]
    (issued,) = seen["waybills"]
    assert issued["waybill_code"] == body["waybill_number"]
    assert (issued["package_id"], issued["recipient_mode"]) == ("PKG_1", "oaid")

    # The print component (and only it) reads the real recipient from the print data.
    label = tb.post("/cloudprint/render", json={"print_data": body["print_data"]}).json()["label"]
    assert label["recipient"]["name"] == order.buyer["name"]
    assert label["recipient"]["address"]["detail"] == order.buyer["address"]

    # The same package again: the stored waybill, no second platform call.
    again = await client.post(f"/v1/orders/{order.id}/waybill", json=_waybill_body())
    assert again.status_code == 200, again.text
    assert again.json()["waybill_number"] == body["waybill_number"]
    assert again.json()["id"] == body["id"]
    assert len(tb.get("/waybills", params={"tid": order.tid}).json()["requests"]) == 1

    # A second parcel: another package id, another waybill; a generated id when none given.
    second = await client.post(f"/v1/orders/{order.id}/waybill", json=_waybill_body("PKG_2"))
    assert second.status_code == 201, second.text
    assert second.json()["waybill_number"] != body["waybill_number"]
    third = await client.post(
        f"/v1/orders/{order.id}/waybill", json=_waybill_body(None, carrier="zto")
    )
    assert third.status_code == 201, third.text
    assert third.json()["package_id"].startswith("pkg_")
    assert third.json()["carrier"] == "ZTO"

    listed = await client.get(f"/v1/orders/{order.id}/waybills")
    assert listed.status_code == 200
    assert [w["package_id"] for w in listed.json()["data"]] == [
        "PKG_1",
        "PKG_2",
        third.json()["package_id"],
    ]
    assert listed.json()["has_more"] is False
    assert tb.get("/waybills").json()["plaintext_violations"] == 0

    # The waybill handed the recipient's handle to the platform: on the audit.
    async with app.state.db.read() as session:
        audit = (
            await session.scalars(
                select(AuditRow).where(
                    AuditRow.subject_id == order.id, AuditRow.action == "waybill"
                )
            )
        ).all()
    assert len(audit) == 3 and audit[0].fields == ["receiver_ref"]

    # Nowhere in ShopBridge's database.
    dump = await _database_text(app)
    assert order.tid in dump and body["waybill_number"] in dump  # the dump is real
    for value in _plaintext(order.buyer):
        assert value not in dump, "plaintext buyer data found in the database"


async def test_waybill_refusals(
    app: FastAPI,
    taobao_shop: Shop,
    tb: httpx.Client,
    tenant: TenantClient,
    admin: httpx.AsyncClient,
) -> None:
    order = await _taobao_order(app, taobao_shop)
    client = taobao_shop.client
    url = f"/v1/orders/{order.id}/waybill"

    unknown = await client.post(url, json=_waybill_body(carrier="NOPE"))
    assert unknown.status_code == 422 and unknown.json()["type"] == PROBLEM + "unknown-carrier"
    ups = await client.post(url, json=_waybill_body(carrier="UPS"))
    assert ups.status_code == 422, ups.text
    assert ups.json()["type"] == PROBLEM + "carrier-not-supported"
    option = await client.post(url, json=_waybill_body(options={"insurance": True}))
    assert option.status_code == 422 and option.json()["type"] == PROBLEM + "validation-error"
    bad_package = await client.post(url, json=_waybill_body("no spaces please"))
    assert bad_package.status_code == 422
    no_number = _waybill_body()
    del no_number["sender"]["mobile"]
    assert (await client.post(url, json=no_number)).status_code == 422
    assert tb.get("/waybills").json()["requests"] == []  # nothing reached the platform

    # Another tenant's order does not exist.
    other = await admin.post("/v1/tenants", json={"name": f"t-{secrets.token_hex(3)}"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {other.json()['admin_key']['key']}"},
    ) as stranger:
        missing = await stranger.post(url, json=_waybill_body())
        assert missing.status_code == 404 and missing.json()["type"] == PROBLEM + "not-found"
        assert (await stranger.get(f"/v1/orders/{order.id}/waybills")).status_code == 404

    # The platform refuses: 424 with its code and words; nothing stored.
    tb.post("/permissions", json={"deny": ["cainiao.waybill.ii.get"]}).raise_for_status()
    refused = await client.post(url, json=_waybill_body())
    assert refused.status_code == 424, refused.text
    problem = refused.json()
    assert problem["type"] == PROBLEM + "platform-error"
    assert problem["errors"][0]["code"] == "11/isv.permission-api-package-limit"
    assert "cainiao.waybill.ii.get" in problem["detail"]
    tb.post("/permissions", json={"allow": ["cainiao.waybill.ii.get"]}).raise_for_status()

    ok = await client.post(url, json=_waybill_body())
    assert ok.status_code == 201
    other_carrier = await client.post(url, json=_waybill_body(carrier="ZTO"))
    assert other_carrier.status_code == 409 and other_carrier.json()["type"] == PROBLEM + "conflict"

    # The buyer moved after our last sync: the platform refuses the stale OAID (424).
    tb.post(f"/trades/{order.tid}/receiver", json={"name": "新收件人", "mobile": "13700000000"})
    stale = await client.post(url, json=_waybill_body("PKG_9"))
    assert stale.status_code == 424
    assert "taobao.trade.fullinfo.get" in stale.json()["detail"]
    async with app.state.db.read() as session:
        rows = (
            await session.scalars(select(WaybillRow).where(WaybillRow.order_id == order.id))
        ).all()
    assert [r.package_id for r in rows] == ["PKG_1"]
    assert tb.get("/waybills").json()["plaintext_violations"] == 0


async def test_scope_is_required(app: FastAPI, taobao_shop: Shop) -> None:
    order = await _taobao_order(app, taobao_shop)
    reader = await _new_key(taobao_shop.client, "orders:read")
    resp = await taobao_shop.client.post(
        f"/v1/orders/{order.id}/waybill", json=_waybill_body(), headers=reader.headers
    )
    assert resp.status_code == 403 and resp.json()["type"] == PROBLEM + "insufficient-scope"


# --- decrypt -----------------------------------------------------------------------------------


async def test_decrypt_is_scoped_reasoned_and_audited(
    app: FastAPI, taobao_shop: Shop, tb: httpx.Client
) -> None:
    order = await _taobao_order(app, taobao_shop)
    protected = await _taobao_order(app, taobao_shop, privacy_protection=True)
    client = taobao_shop.client
    body = {"scene": "sf_waybill", "order_ids": [order.id, protected.id]}

    no_pii = await _new_key(client, "orders:read", "orders:write")
    forbidden = await client.post("/v1/receivers/decrypt", json=body, headers=no_pii.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"] == PROBLEM + "insufficient-scope"
    assert "pii:read" in forbidden.json()["detail"]

    pii = await _new_key(client, "pii:read")
    unreasoned = await client.post("/v1/receivers/decrypt", json=body, headers=pii.headers)
    assert unreasoned.status_code == 422, unreasoned.text
    assert unreasoned.json()["errors"][0]["header"] == "Reveal-Reason"
    assert tb.get("/decrypts").json()["decrypts"] == []

    resp = await client.post("/v1/receivers/decrypt", json=body, headers={**pii.headers, **REASON})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    first, second = resp.json()["data"]
    assert first["order_id"] == order.id and first["matched"] is True
    receiver = first["receiver"]
    assert (receiver["name"], receiver["mobile"], receiver["phone"]) == (
        order.buyer["name"],
        order.buyer["mobile"],
        order.buyer["phone"],
    )
    assert receiver["address"] == {
        "country": None,
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "town": "文新街道",
        "detail": order.buyer["address"],
    }
    assert receiver["virtual_number"] is False
    assert second["receiver"]["virtual_number"] is True
    assert second["receiver"]["mobile"] != protected.buyer["mobile"]
    assert second["receiver"]["virtual_number_expires_at"]
    decrypts = tb.get("/decrypts").json()["decrypts"]
    assert [(d["tid_str"], d["scene"]) for d in decrypts] == [
        (order.tid, "1001"),
        (protected.tid, "1001"),
    ]

    async with app.state.db.read() as session:
        audit = (
            await session.scalars(
                select(AuditRow)
                .where(AuditRow.actor_id == pii.id, AuditRow.action == "decrypt")
                .order_by(AuditRow.subject_id)
            )
        ).all()
    assert sorted(a.subject_id or "" for a in audit) == sorted([order.id, protected.id])
    for row in audit:
        assert row.actor_type == "api_key" and row.subject_type == "order"
        assert row.reason == REASON["Reveal-Reason"]
        assert row.via == "POST /v1/receivers/decrypt scene=sf_waybill"
    by_order = {a.subject_id: a for a in audit}
    assert by_order[order.id].fields == sorted(
        ["receiver.name", "receiver.phone", "receiver.alt_phone", "receiver.address.lines[]"]
    )
    assert "receiver.alt_phone" not in by_order[protected.id].fields

    # Decrypted, answered, and still nowhere in the database.
    dump = await _database_text(app)
    for value in _plaintext(order.buyer) + _plaintext(protected.buyer):
        assert value not in dump, "decrypted buyer data found in the database"


async def test_decrypt_stale_handle_and_limits(
    app: FastAPI, taobao_shop: Shop, tb: httpx.Client
) -> None:
    order = await _taobao_order(app, taobao_shop)
    client = taobao_shop.client
    pii = await _new_key(client, "pii:read")
    headers = {**pii.headers, **REASON}

    # The buyer changed the address after our last sync: no plaintext, matched false.
    tb.post(f"/trades/{order.tid}/receiver", json={"name": "新收件人", "mobile": "13700000000"})
    resp = await client.post(
        "/v1/receivers/decrypt",
        json={"scene": "after_sales", "order_ids": [order.id]},
        headers=headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == [{"order_id": order.id, "matched": False, "receiver": None}]

    too_many = [f"ord_{i:026d}" for i in range(21)]
    over = await client.post(
        "/v1/receivers/decrypt",
        json={"scene": "after_sales", "order_ids": too_many},
        headers=headers,
    )
    assert over.status_code == 422 and over.json()["type"] == PROBLEM + "validation-error"
    scene = await client.post(
        "/v1/receivers/decrypt",
        json={"scene": "curiosity", "order_ids": [order.id]},
        headers=headers,
    )
    assert scene.status_code == 422
    unknown = await client.post(
        "/v1/receivers/decrypt",
        json={"scene": "after_sales", "order_ids": ["ord_01JUNKJUNKJUNKJUNKJUNKJUNK"]},
        headers=headers,
    )
    assert unknown.status_code == 404

    # Platform refusal: 424 with the platform's code.
    tb.post("/permissions", json={"deny": ["taobao.top.oaid.decrypt"]}).raise_for_status()
    denied = await client.post(
        "/v1/receivers/decrypt",
        json={"scene": "after_sales", "order_ids": [order.id]},
        headers=headers,
    )
    assert denied.status_code == 424 and denied.json()["type"] == PROBLEM + "platform-error"
    assert denied.json()["errors"][0]["code"] == "11/isv.permission-api-package-limit"


async def test_decrypt_rate_limit(app: FastAPI, taobao_shop: Shop) -> None:
    orders = [await _taobao_order(app, taobao_shop) for _ in range(3)]
    client = taobao_shop.client
    headers = {**(await _new_key(client, "pii:read")).headers, **REASON}
    settings = app.state.settings
    app.state.settings = settings.model_copy(update={"pii_decrypt_per_minute": 3})
    try:
        ids = [o.id for o in orders]
        first = await client.post(
            "/v1/receivers/decrypt",
            json={"scene": "customer_care", "order_ids": ids[:2]},
            headers=headers,
        )
        assert first.status_code == 200, first.text
        limited = await client.post(
            "/v1/receivers/decrypt",
            json={"scene": "customer_care", "order_ids": ids[1:]},
            headers=headers,
        )
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.json()["type"] == PROBLEM + "rate-limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # the refused call decrypted nothing and recorded nothing: one more still fits
        last = await client.post(
            "/v1/receivers/decrypt",
            json={"scene": "customer_care", "order_ids": ids[2:]},
            headers=headers,
        )
        assert last.status_code == 200, last.text
        again = await client.post(
            "/v1/receivers/decrypt",
            json={"scene": "customer_care", "order_ids": ids[:1]},
            headers=headers,
        )
        assert again.status_code == 429
        # the budget is per key: another key is not affected
        other = {**(await _new_key(client, "pii:read")).headers, **REASON}
        fresh = await client.post(
            "/v1/receivers/decrypt",
            json={"scene": "customer_care", "order_ids": ids[:1]},
            headers=other,
        )
        assert fresh.status_code == 200
    finally:
        app.state.settings = settings


# --- platforms without it ----------------------------------------------------------------------


async def test_shopify_has_no_privacy_shipping(
    app: FastAPI, tenant: TenantClient, shopify_sandbox: RunningServer
) -> None:
    shop_id = await _connect(
        tenant,
        {
            "platform": "shopify",
            "platform_shop_id": "demo-shop.myshopify.com",
            "display_name": "Privacy Shopify",
            "credentials": {"access_token": SHOPIFY_TOKEN, "app_secret": SHOPIFY_SECRET},
            "settings": {"base_url": shopify_sandbox.base_url},
        },
    )
    with httpx.Client(base_url=f"{shopify_sandbox.base_url}/_sandbox", timeout=30) as control:
        created = control.post("/orders", json={"count": 1, "payment": "paid"})
        created.raise_for_status()
        native = created.json()["orders"][0]
    order_id = await _import(app, shop_id, str(native["id"]))
    waybill = await tenant.post(f"/v1/orders/{order_id}/waybill", json=_waybill_body(carrier="UPS"))
    assert waybill.status_code == 409, waybill.text
    assert waybill.json()["type"] == PROBLEM + "not-supported"
    assert "shopify" in waybill.json()["detail"]
    pii = await _new_key(tenant, "pii:read")
    decrypt = await tenant.post(
        "/v1/receivers/decrypt",
        json={"scene": "after_sales", "order_ids": [order_id]},
        headers={**pii.headers, **REASON},
    )
    assert decrypt.status_code == 409 and decrypt.json()["type"] == PROBLEM + "not-supported"
    async with app.state.db.read() as session:
        audit = (
            await session.scalars(select(AuditRow).where(AuditRow.subject_id == order_id))
        ).all()
    assert audit == []


def test_every_neutral_scene_maps_to_a_taobao_scene() -> None:
    assert set(SCENE_CODES) == set(DECRYPT_SCENES)


def test_the_waybill_request_names_no_one() -> None:
    """Whatever the caller puts in the request, the recipient Cainiao gets is the handle,
    the trade and the region: no name, phone, mobile or street key at all."""
    request = WaybillRequest(
        platform_order_id="3981204512306000000",
        receiver_ref="1OAIDxyz",
        carrier_code="SF",
        sender=WaybillSender(
            name="仓库",
            mobile="13000000000",
            address=WaybillAddress("浙江省", "杭州市", "余杭区", "良睦路1号"),
        ),
        package=WaybillPackage("PKG_1", (WaybillItem("T恤", 1),), weight_g=300),
        region=ReceiverRegion(country="CN", province="浙江省", city="杭州市", district="西湖区"),
        template_url=TEMPLATE,
        options={"multi_packages_shipment": True},
    )
    param = json.loads(
        waybill_param(request, tid="3981204512306000000", cp_code="SF", order_channel="TB")
    )
    (dto,) = param["trade_order_info_dtos"]
    assert dto["recipient"] == {
        "oaid": "1OAIDxyz",
        "tid": "3981204512306000000",
        "address": {"province": "浙江省", "city": "杭州市", "district": "西湖区"},
    }
    assert dto["order_info"] == {
        "order_channels_type": "TB",
        "trade_order_list": ["3981204512306000000"],
    }
    assert dto["package_info"]["id"] == dto["object_id"] == "PKG_1"
    assert param["need_encrypt"] is True and param["multi_packages_shipment"] is True


async def test_connector_decrypts_in_batches_of_twenty(
    tb: httpx.Client, tb_sandbox: RunningServer
) -> None:
    created = tb.post("/trades", json={"count": 25}).json()["trades"]
    connector = connector_class("taobao")(
        ShopContext(
            shop_id="shop_test",
            platform_shop_id="2201234567890",
            credentials={"app_key": TB_KEY, "app_secret": TB_SECRET, "session": TB_SESSION},
            base_url=tb_sandbox.base_url,
        )
    )
    queries = [ReceiverQuery(t["tid_str"], t["oaid"], "manual_order") for t in created]
    queries[3] = ReceiverQuery(created[3]["tid_str"], "1STALE", "manual_order")
    try:
        answers = await connector.decrypt_receivers(queries)
    finally:
        await connector.aclose()
    assert [a.platform_order_id for a in answers] == [t["tid_str"] for t in created]
    assert [a.matched for a in answers] == [i != 3 for i in range(25)]
    assert answers[3].name is None and answers[0].name
    assert "name=" not in repr(answers[0])  # plaintext stays out of reprs (logs, tracebacks)
    calls = [c for c in tb.get("/calls").json()["calls"] if c["api"] == "taobao.top.oaid.decrypt"]
    assert len(calls) == 2 and all(c["ok"] for c in calls)
    assert {d["scene"] for d in tb.get("/decrypts").json()["decrypts"]} == {"1006"}
