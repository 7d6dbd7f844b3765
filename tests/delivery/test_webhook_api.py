"""Webhook endpoints API: creation rules, secrets and rotation, test send, isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from shopbridge.storage.tables import IdempotencyKeyRow, WebhookEndpointRow
from tests.conftest import TenantClient
from tests.delivery.conftest import Receiver, Shop


async def test_create_returns_secret_once(tenant: TenantClient, receiver: Receiver) -> None:
    resp = await tenant.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url("x"), "description": "ERP", "event_types": ["order.created"]},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["id"].startswith("we_")
    assert resp.headers["location"] == f"/v1/webhook-endpoints/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert body["enabled"] is True and body["pii_allowed"] is False
    got = (await tenant.get(f"/v1/webhook-endpoints/{body['id']}")).json()
    assert "secret" not in got
    assert got["deliveries"] == {"pending": 0, "succeeded": 0, "failed": 0}
    listed = (await tenant.get("/v1/webhook-endpoints")).json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert body["secret"] not in str(listed)


async def test_secret_is_sealed_at_rest(tenant: TenantClient, receiver: Receiver, app: Any) -> None:
    body = (await tenant.post("/v1/webhook-endpoints", json={"url": receiver.url("x")})).json()
    async with app.state.db.read() as session:
        row = await session.get(WebhookEndpointRow, body["id"])
    assert body["secret"].encode() not in row.secret_sealed
    assert body["secret"][6:].encode() not in row.secret_sealed


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://erp.example.com/hook", "http:// or https://"),
        ("https://user:pw@127.0.0.1/hook", "credentials"),
        ("http://no-such-host.invalid/hook", "cannot be resolved"),
        ("http:///nohost", "no host"),
        ("http://127.0.0.1/hook#frag", "fragment"),
        ("not a url", "http:// or https://"),
    ],
)
async def test_invalid_urls_are_refused(tenant: TenantClient, url: str, reason: str) -> None:
    resp = await tenant.post("/v1/webhook-endpoints", json={"url": url})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert problem["type"] == "urn:shopbridge:problem:invalid-webhook-url"
    assert reason in problem["detail"]
    assert problem["errors"][0]["pointer"] == "#/url"
    assert (await tenant.get("/v1/webhook-endpoints")).json()["data"] == []


@pytest.mark.parametrize(
    ("extra", "pointer"),
    [
        ({"event_types": ["order.exploded"]}, "#/event_types/0"),
        ({"event_types": ["webhook.test"]}, "#/event_types/0"),
        ({"secret": "not-a-secret"}, "#/secret"),
        ({"secret": "whsec_c2hvcnQ="}, "#/secret"),
        ({"shop_ids": ["shop_doesnotexist"]}, "#/shop_ids/0"),
        ({"enabled": "yes"}, "#/enabled"),
        ({"unknown": 1}, "#/unknown"),
    ],
)
async def test_bad_bodies_are_refused(
    tenant: TenantClient, receiver: Receiver, extra: dict[str, Any], pointer: str
) -> None:
    resp = await tenant.post("/v1/webhook-endpoints", json={"url": receiver.url("x"), **extra})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["pointer"] == pointer


async def test_pii_allowed_needs_pii_scope(tenant: TenantClient, receiver: Receiver) -> None:
    key = (
        await tenant.post(
            "/v1/api-keys", json={"name": "erp", "scopes": ["webhooks:write", "webhooks:read"]}
        )
    ).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    body = {"url": receiver.url("x"), "pii_allowed": True}
    resp = await tenant.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert resp.status_code == 403
    assert "pii:read" in resp.json()["detail"]
    created = await tenant.post(
        "/v1/webhook-endpoints", json={"url": receiver.url("x")}, headers=headers
    )
    resp = await tenant.patch(
        f"/v1/webhook-endpoints/{created.json()['id']}", json={"pii_allowed": True}, headers=headers
    )
    assert resp.status_code == 403


async def test_update_disable_enable_delete(shop: Shop, receiver: Receiver) -> None:
    endpoint = await shop.endpoint(receiver.url("x"))
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    resp = await shop.client.patch(
        path, json={"description": "new", "shop_ids": [shop.row.id], "enabled": False}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["enabled"] is False
    assert resp.json()["disabled_reason"] == "disabled through the API"
    assert resp.json()["shop_ids"] == [shop.row.id]
    resp = await shop.client.patch(path, json={"enabled": True})
    assert resp.json()["enabled"] is True and resp.json()["disabled_reason"] is None
    bad = await shop.client.patch(path, json={"url": "ftp://x"})
    assert bad.status_code == 422
    assert (await shop.client.delete(path)).status_code == 204
    assert (await shop.client.get(path)).status_code == 404


async def test_rotation_signs_with_both_secrets_during_overlap(
    shop: Shop, receiver: Receiver
) -> None:
    endpoint = await shop.endpoint(receiver.url("rot"))
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    resp = await shop.client.post(f"{path}/rotate-secret", json={"overlap_seconds": 3600})
    assert resp.status_code == 200, resp.text
    rotated = resp.json()
    assert rotated["secret"] != endpoint["secret"]
    expires = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    assert 3590 < (expires - datetime.now(UTC)).total_seconds() <= 3600
    sent = (await shop.client.post(f"{path}/test")).json()
    assert sent["delivered"] is True, sent
    [hit] = receiver.of("rot")
    assert len(hit.headers["webhook-signature"].split(" ")) == 2
    for secret in (endpoint["secret"], rotated["secret"]):
        assert Webhook(secret).verify(hit.body, hit.headers)["type"] == "webhook.test"
    # Without overlap the old secret stops at once.
    again = (await shop.client.post(f"{path}/rotate-secret", json={"overlap_seconds": 0})).json()
    assert again["previous_secret_expires_at"] is None
    await shop.client.post(f"{path}/test")
    last = receiver.of("rot")[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    Webhook(again["secret"]).verify(last.body, last.headers)


async def test_test_send_reports_failure_reason(shop: Shop, receiver: Receiver) -> None:
    endpoint = await shop.endpoint(receiver.url("t"))
    receiver.plans["t"] = lambda event, n: (418, {}, 0.0)
    sent = (await shop.client.post(f"/v1/webhook-endpoints/{endpoint['id']}/test")).json()
    assert sent["delivered"] is False
    assert sent["status_code"] == 418
    assert sent["error"] == "answered HTTP 418"
    assert sent["event_id"].startswith("evt_")


async def test_other_tenants_endpoints_are_invisible(
    shop: Shop, receiver: Receiver, admin: Any
) -> None:
    endpoint = await shop.endpoint(receiver.url("x"))
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    for method, url, body in [
        ("GET", path, None),
        ("PATCH", path, {"description": "x"}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", {}),
        ("POST", f"{path}/test", None),
        ("GET", f"{path}/deliveries", None),
    ]:
        resp = await admin.request(method, url, json=body)
        assert resp.status_code == 404, (method, url, resp.text)
    assert endpoint["id"] not in (await admin.get("/v1/webhook-endpoints")).text


async def test_creation_with_idempotency_key_returns_same_endpoint(
    tenant: TenantClient, receiver: Receiver, app: Any
) -> None:
    headers = {"Idempotency-Key": "create-erp-endpoint-1"}
    body = {"url": receiver.url("x")}
    first = await tenant.post("/v1/webhook-endpoints", json=body, headers=headers)
    second = await tenant.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert len((await tenant.get("/v1/webhook-endpoints")).json()["data"]) == 1
    async with app.state.db.read() as session:
        rows = (await session.scalars(select(IdempotencyKeyRow))).all()
    assert all(first.json()["secret"].encode() not in (r.response_sealed or b"") for r in rows)
