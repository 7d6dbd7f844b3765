"""The buyer-data vault: sealing, tenant binding, keyed-hash search, data-key rotation,
master-key rewrap and pass-through memory, over the real app and database."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shopbridge.storage.crypto import SealedValueError, SecretBox, generate_key
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.rekey import rewrap, rotate_data_key
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import DataKeyRow, OrderRow, OrderSearchRow, OutboxEventRow
from shopbridge.storage.vault import (
    PASSTHROUGH_MARK,
    TransientPii,
    Vault,
    VaultNotAttached,
    attach_vault,
    is_sealed,
    normalize,
    vault_of,
)
from tests.api.test_shops import shop_body
from tests.conftest import TenantClient
from tests.factories import make_order


def marked_order(mark: str, platform_order_id: str, **overrides: Any) -> Any:
    receiver = {
        "name": f"{mark}收件人",
        "phone": "13912345678",
        "address": {
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "lines": [f"{mark} 文三路 478 号"],
            "postal_code": "310012",
        },
        "oaid": "oaid-" + platform_order_id,
    }
    return make_order(
        platform_order_id,
        receiver=receiver,
        buyer={"name": f"{mark}买家", "email": f"{mark}@example.com"},
        raw={"tid": platform_order_id, "receiver_name": f"{mark}收件人"},
        **overrides,
    )


async def seed(app: FastAPI, tenant: TenantClient, shop_id: str, *orders: Any) -> list[str]:
    ids = []
    async with app.state.db.transaction() as session:
        shop = await ShopRepository(session, tenant.tenant_id, app.state.box).get(shop_id)
        for order in orders:
            ids.append(
                (await OrderRepository(session, tenant.tenant_id).upsert(shop, order)).order_id
            )
    return ids


@pytest.fixture
async def shop_id(tenant: TenantClient) -> str:
    resp = await tenant.post("/v1/shops", json=shop_body(platform="taobao", platform_shop_id="tb"))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


@pytest.fixture
async def reader(tenant: TenantClient) -> TenantClient:
    """A key of the same tenant with `orders:read` only (no `pii:read`)."""
    resp = await tenant.post("/v1/api-keys", json={"name": "reader", "scopes": ["orders:read"]})
    assert resp.status_code == 201, resp.text
    client = TenantClient(
        transport=tenant._transport,
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {resp.json()['key']}"},
    )
    client.tenant_id = tenant.tenant_id
    return client


async def pii_client(tenant: TenantClient) -> TenantClient:
    resp = await tenant.post(
        "/v1/api-keys", json={"name": "pii", "scopes": ["orders:read", "pii:read"]}
    )
    assert resp.status_code == 201, resp.text
    client = TenantClient(
        transport=tenant._transport,
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {resp.json()['key']}"},
    )
    client.tenant_id = tenant.tenant_id
    return client


# -- sealing ------------------------------------------------------------------------------


async def test_orders_and_their_events_hold_only_ciphertext(
    app: FastAPI, tenant: TenantClient, shop_id: str
) -> None:
    mark = "Mk" + secrets.token_hex(4)
    [order_id] = await seed(app, tenant, shop_id, marked_order(mark, "9001"))
    async with app.state.db.read() as session:
        row = await session.get(OrderRow, order_id)
        events = list(
            await session.scalars(
                select(OutboxEventRow).where(OutboxEventRow.subject_id == order_id)
            )
        )
    assert row is not None and events
    stored = json.dumps([row.document, row.raw, [e.payload for e in events]], ensure_ascii=False)
    assert mark not in stored
    assert "13912345678" not in stored
    assert is_sealed(row.document["receiver"]["name"])
    assert is_sealed(row.document["receiver"]["address"]["lines"][0])
    assert is_sealed(row.raw)
    # What is not personal stays queryable and readable.
    assert row.document["receiver"]["address"]["city"] == "杭州市"
    assert row.document["receiver"]["oaid"] == "oaid-9001"


async def test_masked_without_pii_read_and_clear_with_it(
    app: FastAPI, tenant: TenantClient, reader: TenantClient, shop_id: str
) -> None:
    mark = "Mk" + secrets.token_hex(4)
    [order_id] = await seed(app, tenant, shop_id, marked_order(mark, "9002"))
    masked = (await reader.get(f"/v1/orders/{order_id}")).json()
    assert mark not in json.dumps(masked, ensure_ascii=False)
    assert masked["receiver"]["phone"] == "139****5678"
    assert masked["receiver"]["address"]["district"] == "西湖区"  # district level stays
    assert masked["buyer_data"] == "stored"
    clear = (await (await pii_client(tenant)).get(f"/v1/orders/{order_id}")).json()
    assert clear["receiver"]["name"] == f"{mark}收件人"
    assert clear["receiver"]["address"]["lines"] == [f"{mark} 文三路 478 号"]


async def test_a_sealed_value_does_not_open_for_another_tenant(app: FastAPI) -> None:
    vault: Vault = app.state.vault
    sealed = vault.seal_value("13912345678", "ten_a")
    assert vault.open_value(sealed, "ten_a") == "13912345678"
    with pytest.raises(SealedValueError):
        vault.open_value(sealed, "ten_b")


async def test_a_database_without_a_vault_refuses_to_write_orders(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'novault.db'}")
    try:
        async with db.read() as session:
            with pytest.raises(VaultNotAttached):
                vault_of(session)
    finally:
        await db.dispose()


# -- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("phone", "+86 139-1234-5678", "13912345678"),
        ("phone", "0086 13912345678", "13912345678"),
        ("phone", "18877771111-123", "18877771111"),
        ("phone", "12", None),
        ("name", " ZHANG  San ", "zhangsan"),
        ("name", "欧阳 娜娜", "欧阳娜娜"),
        ("email", "Zhang@Example.COM", "zhang@example.com"),
        ("email", "no-at-sign", None),
    ],
)
def test_search_values_are_normalized(field: str, value: str, expected: str | None) -> None:
    assert normalize(field, value) == expected


async def test_search_by_phone_name_and_email_by_keyed_hash(
    app: FastAPI, tenant: TenantClient, reader: TenantClient, shop_id: str
) -> None:
    mark = "Mk" + secrets.token_hex(4)
    first, second = await seed(
        app,
        tenant,
        shop_id,
        marked_order(mark, "9101"),
        marked_order(mark + "x", "9102"),
    )
    by_phone = await reader.post("/v1/orders/search", json={"phone": "+86 139 1234 5678"})
    assert by_phone.status_code == 200, by_phone.text
    assert [o["id"] for o in by_phone.json()["data"]] == [second, first]
    assert mark not in by_phone.text  # masked for a key without pii:read
    by_name = await reader.post("/v1/orders/search", json={"name": f"  {mark}收件人 "})
    assert [o["id"] for o in by_name.json()["data"]] == [first]
    both = await reader.post(
        "/v1/orders/search",
        json={"name": f"{mark}x收件人", "email": f"{mark.upper()}X@example.com"},
    )
    assert [o["id"] for o in both.json()["data"]] == [second]
    paged = await reader.post("/v1/orders/search", json={"phone": "13912345678", "limit": 1})
    assert paged.json()["has_more"] is True
    rest = await reader.post(
        "/v1/orders/search",
        json={"phone": "13912345678", "limit": 1, "cursor": paged.json()["next_cursor"]},
    )
    assert [o["id"] for o in rest.json()["data"]] == [first]
    none = await reader.post("/v1/orders/search", json={"phone": "13900000000"})
    assert none.json()["data"] == []
    # Hashes only: no plaintext in the search table, and other tenants' hashes differ.
    async with app.state.db.read() as session:
        digests = list(
            await session.scalars(
                select(OrderSearchRow.digest).where(OrderSearchRow.order_id == first)
            )
        )
    assert digests and all(len(d) == 64 for d in digests)
    vault: Vault = app.state.vault
    assert vault.search_digest(tenant.tenant_id, "phone", "13912345678") in digests
    assert vault.search_digest("ten_other", "phone", "13912345678") not in digests


async def test_search_needs_something_to_find(reader: TenantClient) -> None:
    resp = await reader.post("/v1/orders/search", json={"limit": 5})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_other_tenants_orders_are_not_found_by_search(
    app: FastAPI, tenant: TenantClient, shop_id: str, admin: Any
) -> None:
    await seed(app, tenant, shop_id, marked_order("Mk" + secrets.token_hex(4), "9201"))
    resp = await admin.post("/v1/orders/search", json={"phone": "13912345678"})
    assert resp.status_code == 200
    assert all(o["shop_id"] != shop_id for o in resp.json()["data"])


# -- keys ---------------------------------------------------------------------------------


async def _own_database(tmp_path: Path, key: str) -> tuple[Database, SecretBox, Vault]:
    from shopbridge.storage.migrate import upgrade

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await upgrade(db)
    box = SecretBox.from_config(key, tmp_path / "unused.key")
    return db, box, await attach_vault(db, box)


async def _one_order(db: Database, box: SecretBox, mark: str) -> str:
    from shopbridge.storage.tenants import ensure_default_tenant

    async with db.transaction() as session:
        tenant = await ensure_default_tenant(session)
        shop, _ = await ShopRepository(session, tenant.id, box).connect(
            platform="taobao",
            platform_shop_id="tb-keys",
            display_name="keys",
            credentials={"app_key": "k", "app_secret": "s", "session": "t"},
            settings={},
        )
        result = await OrderRepository(session, tenant.id).upsert(shop, marked_order(mark, "9301"))
    return result.order_id


async def test_rotate_data_key_reseals_everything_and_retires_the_old_key(tmp_path: Path) -> None:
    db, box, vault = await _own_database(tmp_path, generate_key())
    try:
        mark = "Mk" + secrets.token_hex(4)
        order_id = await _one_order(db, box, mark)
        old_key = vault.active_key_id
        report = await rotate_data_key(db, vault, settle_seconds=0)
        assert report.new_key_id != old_key
        assert report.resealed["orders"] == 1 and report.resealed["events"] >= 1
        assert report.retired == [old_key]
        async with db.read() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            assert vault.key_of(row.raw) == report.new_key_id
            assert set(vault.iter_keys_in(row.document)) == {report.new_key_id}
            keys = {k.id: k for k in await session.scalars(select(DataKeyRow))}
        assert keys[old_key].retired_at is not None
        # Rotating again moves everything once more, and data still opens.
        again = await rotate_data_key(db, vault, settle_seconds=0)
        assert again.resealed["orders"] == 1 and again.retired == [report.new_key_id]
        async with db.read() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            doc = vault.open_document(row.tenant_id, row.document)
        assert doc["receiver"]["name"] == f"{mark}收件人"
        # Another process that still knows only the old key set picks the new one up.
        stale = Vault(box)
        async with db.read() as session:
            await stale.load(session)
        assert stale.active_key_id == again.new_key_id
    finally:
        await db.dispose()


async def test_rewrap_moves_everything_to_a_new_master_key(tmp_path: Path) -> None:
    old_master, new_master = generate_key(), generate_key()
    db, box, _ = await _own_database(tmp_path, old_master)
    try:
        mark = "Mk" + secrets.token_hex(4)
        order_id = await _one_order(db, box, mark)
        rotated_box = SecretBox.from_config(f"{new_master},{old_master}", tmp_path / "unused")
        rotated = Vault(rotated_box)
        async with db.read() as session:
            await rotated.load(session)
        report = await rewrap(db, rotated)
        assert report.data_keys == 2 and report.shop_credentials == 1
        # Only the new master key from now on: data keys, credentials and orders all open.
        only_new = Vault(SecretBox.from_config(new_master, tmp_path / "unused"))
        async with db.read() as session:
            await only_new.load(session)
            row = await session.get(OrderRow, order_id)
            assert row is not None
            assert only_new.open_document(row.tenant_id, row.document)["buyer"]["name"] == (
                f"{mark}买家"
            )
    finally:
        await db.dispose()


# -- pass-through -------------------------------------------------------------------------


def test_transient_memory_is_bounded_and_expires() -> None:
    memory = TransientPii(ttl_seconds=3600, max_entries=2)
    memory.put("ord_1", 1, {"receiver.name": "a"}, None)
    memory.put("ord_2", 1, {"receiver.name": "b"}, None)
    memory.put("ord_3", 1, {"receiver.name": "c"}, None)
    assert memory.get("ord_1", 1) is None and len(memory) == 2
    memory.drop("ord_2", 1)
    assert memory.get("ord_2", 1) is None
    expired = TransientPii(ttl_seconds=0.0001, max_entries=10)
    expired.put("ord_1", 1, {}, None)
    import time

    time.sleep(0.01)
    assert expired.get("ord_1", 1) is None


async def test_passthrough_keeps_buyer_data_in_memory_only(tmp_path: Path) -> None:
    db, box, _ = await _own_database(tmp_path, generate_key())
    try:
        vault = await attach_vault(db, box, retention="passthrough")
        mark = "Mk" + secrets.token_hex(4)
        order_id = await _one_order(db, box, mark)
        async with db.read() as session:
            row = await session.get(OrderRow, order_id)
            assert row is not None
            from shopbridge.storage.orders import open_rows

            [readable] = await open_rows(session, [row])
        stored = json.dumps([row.document, row.raw], ensure_ascii=False)
        assert mark not in stored and "sbv1:" not in stored and "13912345678" not in stored
        assert row.document["pii"] == PASSTHROUGH_MARK and row.raw is None
        assert row.document["receiver"]["address"]["city"] == "杭州市"
        assert readable.buyer_data == "in_memory"
        assert readable.document["receiver"]["name"] == f"{mark}收件人"
        assert readable.raw == {"tid": "9301", "receiver_name": f"{mark}收件人"}
        vault.memory.drop(order_id, row.version)
        async with db.read() as session:
            [gone] = await open_rows(session, [row])
        assert gone.buyer_data == "dropped"
        assert gone.document["receiver"]["name"] is None and gone.raw is None
        # Search still works: keyed hashes are kept.
        async with db.read() as session:
            found = await OrderRepository(session, row.tenant_id).search([("phone", "13912345678")])
        assert [r.id for r in found] == [order_id]
    finally:
        await db.dispose()


async def test_readyz_shows_the_retention_mode(anon: Any) -> None:
    body = (await anon.get("/readyz")).json()
    assert body["retention"] == "vault"
    assert body["orders_in_memory"] == 0
