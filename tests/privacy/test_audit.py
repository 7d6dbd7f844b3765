"""The access audit: every unmasked disclosure of buyer data (API reads, the event feed,
webhooks to `pii_allowed` endpoints, granting that permission) leaves exactly one record per
order, naming fields and never values; `GET /v1/audit` reads them back, per tenant only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shopbridge.config import Settings
from shopbridge.core.ids import new_id
from shopbridge.delivery.dispatcher import Dispatcher, delivery_settings
from shopbridge.storage.audit import ACTIONS, disclosed_fields
from shopbridge.storage.tables import AuditRow
from tests.api.test_auth_and_keys import _problem
from tests.conftest import TenantClient
from tests.delivery.conftest import Receiver, Shop
from tests.delivery.test_dispatcher import run_until
from tests.factories import make_order

MakeDispatcher = Callable[..., Dispatcher]

# Distinct markers, so a plaintext leak is found wherever it lands.
NAME = "审计标记人"
PHONE = "13977770123"
LINE = "MARKERLINE 88 号"
POSTAL = "310077"
RAW_MARK = "RAW-ONLY-MARKER-5521"
PLAINTEXT = (NAME, PHONE, "MARKERLINE", POSTAL, RAW_MARK)
PERSONAL_FIELDS = [
    "receiver.address.lines[]",
    "receiver.address.postal_code",
    "receiver.name",
    "receiver.phone",
]


def _order(platform_order_id: str, *, personal: bool = True) -> Any:
    receiver = {
        "name": NAME,
        "phone": PHONE,
        "address": {
            "country": "CN",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "lines": [LINE],
            "postal_code": POSTAL,
        },
    }
    return make_order(
        platform_order_id,
        receiver=receiver if personal else None,
        raw={"tid": platform_order_id, "receiver_name": NAME, "note": RAW_MARK}
        if personal
        else None,
    )


async def _key(tenant: TenantClient, app: FastAPI, *scopes: str) -> tuple[str, httpx.AsyncClient]:
    resp = await tenant.post("/v1/api-keys", json={"name": "k", "scopes": list(scopes)})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://shopbridge.test",
        headers={"Authorization": f"Bearer {body['key']}"},
    )
    return body["id"], client


@pytest.fixture
async def keys(shop: Shop, app: FastAPI) -> AsyncIterator[dict[str, tuple[str, httpx.AsyncClient]]]:
    """Keys of the shop's tenant: masked reader, pii reader, auditor."""
    made = {
        "masked": await _key(shop.client, app, "orders:read", "events:read"),
        "pii": await _key(shop.client, app, "orders:read", "events:read", "pii:read"),
        "auditor": await _key(shop.client, app, "audit:read"),
    }
    yield made
    for _, client in made.values():
        await client.aclose()


async def _records(shop: Shop) -> list[AuditRow]:
    async with shop.db.read() as session:
        rows = await session.scalars(
            select(AuditRow).where(AuditRow.tenant_id == shop.tenant_id).order_by(AuditRow.id)
        )
        return list(rows.all())


def _assert_no_plaintext(rows: list[AuditRow], *texts: str) -> None:
    stored = json.dumps(
        [
            [r.actor_id, r.action, r.subject_type, r.subject_id, r.fields, r.reason, r.via]
            for r in rows
        ],
        ensure_ascii=False,
    )
    for blob in (stored, *texts):
        for value in PLAINTEXT:
            assert value not in blob, value


async def _audit(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/v1/audit", params={"limit": 500, **params})
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


def test_disclosed_fields_name_only_present_values() -> None:
    doc = _order("F1").model_dump(mode="json")
    assert disclosed_fields(doc) == (PERSONAL_FIELDS[2:] + PERSONAL_FIELDS[:2], ["raw"])
    doc["receiver"]["phone"] = ""
    doc["receiver"]["address"]["lines"] = []
    doc.pop("raw")
    assert disclosed_fields(doc) == (
        ["receiver.name", "receiver.address.postal_code"],
        [],
    )
    assert disclosed_fields(_order("F2", personal=False).model_dump(mode="json")) == ([], [])


async def test_masked_reads_leave_no_record(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("M1"))).order_id
    _, reader = keys["masked"]
    responses = [
        await reader.get(f"/v1/orders/{order_id}"),
        await reader.get("/v1/orders"),
        await reader.get(f"/v1/shops/{shop.row.id}/orders/M1"),
        await reader.get("/v1/events"),
    ]
    for resp in responses:
        assert resp.status_code == 200, resp.text
    assert responses[0].json()["receiver"]["phone"] == "139****0123"
    assert await _records(shop) == []
    _assert_no_plaintext([], *(r.text for r in responses))


async def test_reveal_by_id_is_audited_once_with_fields_reason_and_key(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("R1"))).order_id
    key_id, reader = keys["pii"]
    resp = await reader.get(
        f"/v1/orders/{order_id}", headers={"Reveal-Reason": "ticket CS-4711 address change"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["receiver"]["name"] == NAME
    assert "raw" not in resp.json()
    [row] = await _records(shop)
    assert (row.actor_type, row.actor_id, row.action) == ("api_key", key_id, "reveal")
    assert (row.subject_type, row.subject_id) == ("order", order_id)
    assert row.fields == PERSONAL_FIELDS
    assert row.reason == "ticket CS-4711 address change"
    assert row.via == "GET /v1/orders/{order_id}"

    # By platform order id, with a UTF-8 reason: one more record, through that door.
    resp = await reader.get(
        f"/v1/shops/{shop.row.id}/orders/R1", headers={b"Reveal-Reason": "工单 4711".encode()}
    )
    assert resp.status_code == 200, resp.text
    rows = await _records(shop)
    assert len(rows) == 2
    assert rows[1].via == "GET /v1/shops/{shop_id}/orders/{platform_order_id}"
    assert rows[1].reason == "工单 4711"
    assert rows[1].subject_id == order_id
    _assert_no_plaintext(rows)


async def test_reason_too_long_is_refused_before_anything_is_revealed(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("R2"))).order_id
    _, reader = keys["pii"]
    resp = await reader.get(f"/v1/orders/{order_id}", headers={"Reveal-Reason": "x" * 501})
    body = _problem(resp, 422, "validation-error")
    assert body["errors"][0]["header"] == "Reveal-Reason"  # type: ignore[index]
    assert NAME not in resp.text
    assert await _records(shop) == []
    ok = await reader.get(f"/v1/orders/{order_id}", headers={"Reveal-Reason": "x" * 500})
    assert ok.status_code == 200


async def test_include_raw_is_audited_as_raw(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("W1"))).order_id
    key_id, reader = keys["pii"]
    resp = await reader.get(f"/v1/orders/{order_id}", params={"include_raw": "true"})
    assert resp.json()["raw"]["note"] == RAW_MARK
    rows = await _records(shop)
    assert sorted((r.action, tuple(r.fields)) for r in rows) == [
        ("raw", ("raw",)),
        ("reveal", tuple(PERSONAL_FIELDS)),
    ]
    assert {(r.actor_id, r.subject_id) for r in rows} == {(key_id, order_id)}
    _assert_no_plaintext(rows)


async def test_list_page_is_audited_in_one_batch(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    with_pii = [(await shop.upsert(_order(f"L{i}"))).order_id for i in range(3)]
    await shop.upsert(_order("L-anon", personal=False))
    key_id, reader = keys["pii"]
    resp = await reader.get("/v1/orders", params={"limit": 500})
    assert len(resp.json()["data"]) == 4
    rows = await _records(shop)
    # One record per order that carried personal data; the anonymous one has none.
    assert sorted(r.subject_id for r in rows if r.subject_id) == sorted(with_pii)
    assert {(r.action, r.actor_id, r.via) for r in rows} == {("reveal", key_id, "GET /v1/orders")}
    assert len({r.created_at for r in rows}) == 1  # written together, in one transaction

    page = (await reader.get("/v1/orders", params={"limit": 2})).json()
    assert len(await _records(shop)) == 3 + sum(1 for o in page["data"] if o["receiver"])


async def test_search_results_are_audited(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("S1"))).order_id
    _, masked = keys["masked"]
    found = await masked.post("/v1/orders/search", json={"phone": PHONE})
    assert [o["id"] for o in found.json()["data"]] == [order_id], found.text
    assert await _records(shop) == []
    key_id, reader = keys["pii"]
    found = await reader.post("/v1/orders/search", json={"phone": PHONE})
    assert found.json()["data"][0]["receiver"]["phone"] == PHONE
    [row] = await _records(shop)
    assert (row.actor_id, row.subject_id, row.via) == (
        key_id,
        order_id,
        "POST /v1/orders/search",
    )
    _assert_no_plaintext([row])


async def test_failed_audit_write_fails_the_request(
    shop: Shop,
    keys: dict[str, tuple[str, httpx.AsyncClient]],
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id = (await shop.upsert(_order("X1"))).order_id
    _, reader = keys["pii"]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("shopbridge.api.reveal.record", broken)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://shopbridge.test",
        headers=dict(reader.headers),
    )
    async with client:
        resp = await client.get(f"/v1/orders/{order_id}")
    assert resp.status_code == 500
    assert NAME not in resp.text
    assert PHONE not in resp.text


async def test_event_feed_reveals_are_audited(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]]
) -> None:
    order_id = (await shop.upsert(_order("E1"))).order_id
    await shop.upsert(_order("E-anon", personal=False))
    _, masked = keys["masked"]
    assert len((await masked.get("/v1/events")).json()["data"]) == 2
    assert await _records(shop) == []

    key_id, reader = keys["pii"]
    feed = await reader.get("/v1/events", headers={"Reveal-Reason": "ERP resync"})
    events = feed.json()["data"]
    assert len(events) == 2
    assert NAME in feed.text
    [row] = await _records(shop)
    assert (row.actor_type, row.actor_id, row.action) == ("api_key", key_id, "reveal")
    assert (row.subject_type, row.subject_id, row.via) == ("order", order_id, "GET /v1/events")
    assert row.fields == PERSONAL_FIELDS
    assert row.reason == "ERP resync"

    [event] = [e for e in events if e["data"]["order"]["id"] == order_id]
    one = await reader.get(f"/v1/events/{event['id']}")
    assert one.status_code == 200
    rows = await _records(shop)
    assert [r.via for r in rows] == ["GET /v1/events", "GET /v1/events/{event_id}"]
    _assert_no_plaintext(rows)


async def test_webhook_to_pii_endpoint_is_audited_and_masked_one_is_not(
    shop: Shop, receiver: Receiver, dispatcher_for: MakeDispatcher
) -> None:
    masked = await shop.endpoint(receiver.url("masked"))
    clear = await shop.endpoint(receiver.url("clear"), pii_allowed=True)
    # The clear endpoint fails once: the failed attempt may have been read, so it counts.
    receiver.plans["clear"] = lambda event, n: (503 if n == 1 else 200, {}, 0.0)
    order_id = (await shop.upsert(_order("H1"))).order_id
    await shop.upsert(_order("H-anon", personal=False))
    await run_until(
        dispatcher_for(shop),
        lambda: len([h for h in receiver.of("clear") if h.status == 200]) == 2,
    )
    masked_bodies = [h.body.decode() for h in receiver.of("masked")]
    clear_bodies = [h.body.decode() for h in receiver.of("clear")]
    assert len(masked_bodies) == 2
    assert all(PHONE not in b and NAME not in b for b in masked_bodies)
    assert sum(PHONE in b for b in clear_bodies) == 2  # one failed + one delivered attempt

    rows = await _records(shop)
    [grant] = [r for r in rows if r.action == "grant"]
    assert (grant.subject_type, grant.subject_id) == ("webhook_endpoint", clear["id"])
    assert grant.via == "POST /v1/webhook-endpoints"
    hooks = [r for r in rows if r.via == "webhook"]
    assert len(hooks) == 2
    for row in hooks:
        assert (row.actor_type, row.actor_id, row.action) == (
            "webhook_endpoint",
            clear["id"],
            "reveal",
        )
        assert (row.subject_type, row.subject_id) == ("order", order_id)
        assert row.fields == PERSONAL_FIELDS
    assert not any(r.actor_id == masked["id"] for r in rows)
    _assert_no_plaintext(rows)


async def test_pii_allowed_needs_pii_read_and_is_audited(
    shop: Shop, app: FastAPI, receiver: Receiver
) -> None:
    _, writer = await _key(shop.client, app, "webhooks:write", "webhooks:read")
    _, admin_no_pii = await _key(shop.client, app, "admin")
    async with writer, admin_no_pii:
        for client in (writer, admin_no_pii):
            _problem(
                await client.post(
                    "/v1/webhook-endpoints", json={"url": receiver.url("p"), "pii_allowed": True}
                ),
                403,
                "insufficient-scope",
            )
        plain = (
            await writer.post("/v1/webhook-endpoints", json={"url": receiver.url("plain")})
        ).json()
        _problem(
            await writer.patch(f"/v1/webhook-endpoints/{plain['id']}", json={"pii_allowed": True}),
            403,
            "insufficient-scope",
        )
        assert await _records(shop) == []

        # The tenant admin key holds pii:read: it may grant, and the grant is recorded.
        resp = await shop.client.patch(
            f"/v1/webhook-endpoints/{plain['id']}",
            json={"pii_allowed": True},
            headers={"Reveal-Reason": "ERP needs addresses"},
        )
        assert resp.status_code == 200, resp.text
        [grant] = await _records(shop)
        assert (grant.action, grant.subject_type, grant.subject_id) == (
            "grant",
            "webhook_endpoint",
            plain["id"],
        )
        assert (grant.actor_type, grant.reason, grant.fields) == (
            "api_key",
            "ERP needs addresses",
            ["pii_allowed"],
        )
        assert grant.via == "PATCH /v1/webhook-endpoints/{endpoint_id}"

        # Moving a pii endpoint elsewhere sends buyer data somewhere new: pii:read again.
        _problem(
            await writer.patch(
                f"/v1/webhook-endpoints/{plain['id']}", json={"url": receiver.url("moved")}
            ),
            403,
            "insufficient-scope",
        )
        harmless = await writer.patch(
            f"/v1/webhook-endpoints/{plain['id']}", json={"description": "still fine"}
        )
        assert harmless.status_code == 200
        moved = await shop.client.patch(
            f"/v1/webhook-endpoints/{plain['id']}", json={"url": receiver.url("moved")}
        )
        assert moved.status_code == 200, moved.text
        revoked = await writer.patch(
            f"/v1/webhook-endpoints/{plain['id']}", json={"pii_allowed": False}
        )
        assert revoked.status_code == 200, revoked.text
    rows = await _records(shop)
    assert [(r.action, r.fields) for r in rows] == [
        ("grant", ["pii_allowed"]),
        ("grant", ["pii_allowed", "url"]),
        ("revoke", ["pii_allowed"]),
    ]


async def test_audit_api_filters_pages_and_scopes(
    shop: Shop, keys: dict[str, tuple[str, httpx.AsyncClient]], admin: httpx.AsyncClient
) -> None:
    first = (await shop.upsert(_order("A1"))).order_id
    second = (await shop.upsert(_order("A2"))).order_id
    pii_id, pii = keys["pii"]
    _, auditor = keys["auditor"]
    _, masked = keys["masked"]
    start = datetime.now(UTC) - timedelta(seconds=5)
    await pii.get(f"/v1/orders/{first}", params={"include_raw": "true"})  # reveal + raw
    await pii.get(f"/v1/orders/{second}")
    await shop.client.get(f"/v1/orders/{second}")  # the tenant admin key
    await pii.get("/v1/orders")  # reveal of both

    _problem(await masked.get("/v1/audit"), 403, "insufficient-scope")
    everything = await _audit(auditor)
    assert len(everything) == 6
    assert [r["id"] for r in everything] == sorted((r["id"] for r in everything), reverse=True)
    assert set(everything[0]) == {
        "id",
        "actor_type",
        "actor_id",
        "action",
        "subject_type",
        "subject_id",
        "fields",
        "reason",
        "via",
        "created_at",
    }
    assert len(await _audit(auditor, order_id=first)) == 3
    assert len(await _audit(auditor, subject_id=second)) == 3
    assert await _audit(auditor, order_id=first, subject_id=second) == []
    assert len(await _audit(auditor, actor_id=pii_id)) == 5
    [raw] = await _audit(auditor, action="raw")
    assert (raw["subject_id"], raw["fields"]) == (first, ["raw"])
    assert len(await _audit(auditor, since=start.isoformat())) == 6
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _audit(auditor, since=future) == []

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4, "actor_id": pii_id}
        if cursor:
            params["cursor"] = cursor
        page = (await auditor.get("/v1/audit", params=params)).json()
        seen += [r["id"] for r in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == [r["id"] for r in everything if r["actor_id"] == pii_id]
    _problem(
        await auditor.get("/v1/audit", params={"limit": 4, "cursor": cursor or "x"}),
        400,
        "invalid-cursor",
    )
    for bad in ({"since": "2026-11-11T00:00:00"}, {"action": "peek"}, {"limit": 0}):
        _problem(await auditor.get("/v1/audit", params=bad), 422, "validation-error")

    # Another tenant sees none of it, not even when it names the order.
    other = (await admin.post("/v1/tenants", json={"name": "audit-other"})).json()
    headers = {"Authorization": f"Bearer {other['admin_key']['key']}"}
    foreign = await admin.get("/v1/audit", headers=headers, params={"limit": 500})
    assert foreign.status_code == 200
    assert foreign.json()["data"] == []
    named = await admin.get("/v1/audit", headers=headers, params={"order_id": first})
    assert named.json()["data"] == []
    _assert_no_plaintext(await _records(shop), json.dumps(everything, ensure_ascii=False))
    assert {r["action"] for r in everything} <= set(ACTIONS)


async def test_maintenance_prunes_records_past_retention(
    shop: Shop, dispatcher_for: MakeDispatcher, settings: Settings
) -> None:
    now = datetime.now(UTC)

    def row(age: timedelta) -> AuditRow:
        return AuditRow(
            id=new_id("aud"),
            tenant_id=shop.tenant_id,
            actor_type="api_key",
            actor_id="key_test",
            action="reveal",
            subject_type="order",
            subject_id="ord_test",
            fields=["receiver.name"],
            reason=None,
            via="GET /v1/orders/{order_id}",
            created_at=now - age,
        )

    old, fresh = row(timedelta(days=400)), row(timedelta(days=300))
    async with shop.db.transaction() as session:
        session.add_all([old, fresh])
    await dispatcher_for(shop).maintenance()  # default retention: 365 days
    assert [r.id for r in await _records(shop)] == [fresh.id]
    configured = delivery_settings(settings.model_copy(update={"audit_retention_days": 30}))
    assert configured.audit_retention == timedelta(days=30)
