"""`Idempotency-Key` on `/v1` writes: a retry gets the first answer back, never a second
execution; keys are per caller, answers are sealed, and only final answers are kept."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.idempotency import (
    ABANDONED_AFTER,
    DONE,
    IN_PROGRESS,
    RETENTION,
    Outcome,
    claim_key,
    delete_expired_idempotency_keys,
    release_claim,
    store_answer,
)
from shopbridge.storage.tables import IdempotencyKeyRow
from tests.api.test_auth_and_keys import _problem
from tests.api.test_shops import shop_body
from tests.conftest import TenantClient


def _scope(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key() -> str:
    return f"idem-{secrets.token_hex(8)}"


def _idem(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


@pytest.fixture
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


async def _row(db: Database, token: str, key: str) -> IdempotencyKeyRow | None:
    async with db.read() as session:
        return await session.get(IdempotencyKeyRow, (_scope(token), key))


async def _put_row(db: Database, row: IdempotencyKeyRow) -> None:
    async with db.transaction() as session:
        session.add(row)


async def test_retry_replays_the_first_answer_and_runs_once(tenant: TenantClient) -> None:
    key = _key()
    first = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    # Without the key a second connect of the same shop would be a 409 conflict.
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    listed = (await tenant.get("/v1/shops")).json()["data"]
    assert [s["id"] for s in listed] == [first.json()["id"]]


async def test_same_key_different_request_is_422(tenant: TenantClient) -> None:
    key = _key()
    assert (await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))).is_success
    other = shop_body(platform_shop_id="another-shop")
    body = _problem(
        await tenant.post("/v1/shops", json=other, headers=_idem(key)),
        422,
        "idempotency-key-reused",
    )
    assert body["errors"] == [
        {"detail": body["detail"], "header": "Idempotency-Key", "code": "idempotency-key-reused"}
    ]
    # Same body on another path, or another query string, is another request too.
    _problem(
        await tenant.post("/v1/api-keys", json=shop_body(), headers=_idem(key)),
        422,
        "idempotency-key-reused",
    )
    _problem(
        await tenant.post("/v1/shops?x=1", json=shop_body(), headers=_idem(key)),
        422,
        "idempotency-key-reused",
    )


async def test_different_keys_run_separately(tenant: TenantClient) -> None:
    body = {"name": "erp", "scopes": ["orders:read"]}
    first = await tenant.post("/v1/api-keys", json=body, headers=_idem(_key()))
    second = await tenant.post("/v1/api-keys", json=body, headers=_idem(_key()))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers


async def test_keys_are_scoped_to_the_api_key(
    tenant: TenantClient, admin: httpx.AsyncClient
) -> None:
    key = _key()
    body = {"name": "erp", "scopes": ["orders:read"]}
    mine = await tenant.post("/v1/api-keys", json=body, headers=_idem(key))
    theirs = await admin.post("/v1/api-keys", json=body, headers=_idem(key))
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    # Another key of the same tenant is another caller as well.
    writer = (
        await tenant.post(
            "/v1/api-keys", json={"name": "w", "scopes": ["keys:write", "orders:read"]}
        )
    ).json()
    sibling = await tenant.post(
        "/v1/api-keys",
        json=body,
        headers={**_idem(key), "Authorization": f"Bearer {writer['key']}"},
    )
    assert sibling.status_code == 201
    assert "idempotent-replayed" not in sibling.headers
    assert sibling.json()["id"] not in {mine.json()["id"], theirs.json()["id"]}


async def test_a_client_error_is_replayed_too(tenant: TenantClient, db: Database) -> None:
    key = _key()
    bad = shop_body(platform_shop_id="")
    first = await tenant.post("/v1/shops", json=bad, headers=_idem(key))
    _problem(first, 422, "validation-error")
    again = await tenant.post("/v1/shops", json=bad, headers=_idem(key))
    _problem(again, 422, "validation-error")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    row = await _row(db, tenant.key, key)
    assert row is not None
    assert (row.state, row.status_code) == (DONE, 422)


async def test_empty_answer_is_replayed(tenant: TenantClient) -> None:
    issued = (
        await tenant.post("/v1/api-keys", json={"name": "x", "scopes": ["orders:read"]})
    ).json()
    key = _key()
    first = await tenant.delete(f"/v1/api-keys/{issued['id']}", headers=_idem(key))
    again = await tenant.delete(f"/v1/api-keys/{issued['id']}", headers=_idem(key))
    assert first.status_code == again.status_code == 204
    assert again.content == b""
    assert again.headers["idempotent-replayed"] == "true"


async def test_unauthorized_forbidden_and_conflict_are_not_stored(
    tenant: TenantClient, anon: httpx.AsyncClient, db: Database
) -> None:
    key = _key()
    bogus = "sbk_not_a_real_key"
    resp = await anon.post(
        "/v1/shops", json=shop_body(), headers={**_idem(key), "Authorization": f"Bearer {bogus}"}
    )
    _problem(resp, 401, "unauthorized")
    assert await _row(db, bogus, key) is None

    reader = (
        await tenant.post("/v1/api-keys", json={"name": "r", "scopes": ["orders:read"]})
    ).json()
    resp = await anon.post(
        "/v1/shops",
        json=shop_body(),
        headers={**_idem(key), "Authorization": f"Bearer {reader['key']}"},
    )
    _problem(resp, 403, "insufficient-scope")
    assert await _row(db, reader["key"], key) is None

    # A 409 frees the key: once the conflict is gone, the same retry goes through.
    shop = (await tenant.post("/v1/shops", json=shop_body())).json()
    _problem(await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key)), 409, "conflict")
    assert await _row(db, tenant.key, key) is None
    assert (await tenant.post(f"/v1/shops/{shop['id']}/disconnect")).status_code == 200
    retry = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers


async def test_no_bearer_token_passes_through(anon: httpx.AsyncClient) -> None:
    resp = await anon.post("/v1/shops", json=shop_body(), headers=_idem("not valid \x7f"))
    _problem(resp, 401, "unauthorized")


@pytest.mark.parametrize(
    "value",
    [b"", b"k" * 256, "clé".encode("latin-1"), b"tab\tinside", b"del\x7f"],
    ids=["empty", "too-long", "non-ascii", "tab", "control"],
)
async def test_invalid_key_is_400(tenant: TenantClient, value: bytes) -> None:
    resp = await tenant.post("/v1/shops", json=shop_body(), headers={"Idempotency-Key": value})
    body = _problem(resp, 400, "invalid-idempotency-key")
    assert body["errors"][0]["header"] == "Idempotency-Key"  # type: ignore[index]
    assert (await tenant.get("/v1/shops")).json()["data"] == []


async def test_two_keys_in_one_request_are_400(tenant: TenantClient) -> None:
    resp = await tenant.post(
        "/v1/shops",
        json=shop_body(),
        headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    _problem(resp, 400, "invalid-idempotency-key")


async def test_longest_key_is_accepted(tenant: TenantClient) -> None:
    key = "~ " + "k" * 253
    resp = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert resp.status_code == 201, resp.text


async def test_stored_answer_is_sealed(tenant: TenantClient, app: FastAPI, db: Database) -> None:
    key = _key()
    created = await tenant.post(
        "/v1/api-keys", json={"name": "sealed-name", "scopes": ["orders:read"]}, headers=_idem(key)
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    row = await _row(db, tenant.key, key)
    assert row is not None
    assert row.response_sealed is not None
    assert secret.encode() not in row.response_sealed
    assert b"sealed-name" not in row.response_sealed
    assert row.response_headers == {"content-type": "application/json"}
    box: SecretBox = app.state.box
    owner = f"idem:{_scope(tenant.key)}:{key}"
    assert box.open(row.response_sealed, owner=owner) == created.content
    again = await tenant.post(
        "/v1/api-keys", json={"name": "sealed-name", "scopes": ["orders:read"]}, headers=_idem(key)
    )
    assert again.json()["key"] == secret


async def test_request_still_running_is_409(tenant: TenantClient, db: Database) -> None:
    key = _key()
    now = utcnow()
    await _put_row(
        db,
        IdempotencyKeyRow(
            scope=_scope(tenant.key),
            key=key,
            fingerprint="0" * 64,
            state=IN_PROGRESS,
            created_at=now - timedelta(seconds=5),
            expires_at=now + RETENTION,
        ),
    )
    resp = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    _problem(resp, 409, "idempotency-key-in-progress")
    assert (await tenant.get("/v1/shops")).json()["data"] == []
    row = await _row(db, tenant.key, key)
    assert row is not None
    assert row.state == IN_PROGRESS  # the running request keeps its claim


async def test_abandoned_request_is_taken_over(tenant: TenantClient, db: Database) -> None:
    key = _key()
    now = utcnow()
    await _put_row(
        db,
        IdempotencyKeyRow(
            scope=_scope(tenant.key),
            key=key,
            fingerprint="0" * 64,
            state=IN_PROGRESS,
            created_at=now - ABANDONED_AFTER - timedelta(seconds=1),
            expires_at=now + RETENTION,
        ),
    )
    resp = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert resp.status_code == 201, resp.text
    row = await _row(db, tenant.key, key)
    assert row is not None
    assert (row.state, row.status_code) == (DONE, 201)
    assert row.fingerprint != "0" * 64
    assert row.created_at > now


async def test_expired_answer_is_overwritten(
    tenant: TenantClient, app: FastAPI, db: Database
) -> None:
    key = _key()
    now = utcnow()
    box: SecretBox = app.state.box
    sealed, _ = box.seal(b'{"old": true}', owner=f"idem:{_scope(tenant.key)}:{key}")
    await _put_row(
        db,
        IdempotencyKeyRow(
            scope=_scope(tenant.key),
            key=key,
            fingerprint="0" * 64,
            state=DONE,
            status_code=201,
            response_headers={"content-type": "application/json"},
            response_sealed=sealed,
            created_at=now - RETENTION - timedelta(minutes=1),
            expires_at=now - timedelta(minutes=1),
        ),
    )
    resp = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert resp.status_code == 201, resp.text
    assert "idempotent-replayed" not in resp.headers
    row = await _row(db, tenant.key, key)
    assert row is not None
    assert row.expires_at > now + RETENTION - timedelta(minutes=1)
    again = await tenant.post("/v1/shops", json=shop_body(), headers=_idem(key))
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == resp.json()


async def test_push_endpoints_are_left_alone(tenant: TenantClient, db: Database) -> None:
    key = _key()
    await tenant.post("/v1/push/shopify/shop_unknown", content=b"{}", headers=_idem(key))
    assert await _row(db, tenant.key, key) is None


async def test_concurrent_first_claims_let_exactly_one_run(db: Database) -> None:
    """The second claim waits for the first (SQLite write lock, or the PostgreSQL unique
    index, where it then fails and re-reads), and sees the first one's row."""
    scope, key, now = _scope(secrets.token_hex(8)), _key(), utcnow()

    async def claim() -> Outcome:
        async with db.transaction() as session:
            decision = await claim_key(session, scope=scope, key=key, fingerprint="f" * 64, now=now)
            return decision.outcome

    async with db.transaction() as session:
        first = await claim_key(session, scope=scope, key=key, fingerprint="f" * 64, now=now)
        second = asyncio.create_task(claim())
        await asyncio.sleep(0.3)
        assert not second.done()
    assert first.outcome is Outcome.CLAIMED
    assert await second is Outcome.IN_PROGRESS


async def test_a_taken_over_claim_is_not_touched_by_its_first_owner(db: Database) -> None:
    """The slow original of an abandoned claim finishing late must neither overwrite nor
    delete the row of the request that took the key over."""
    scope, key = _scope(secrets.token_hex(8)), _key()
    old = utcnow() - ABANDONED_AFTER - timedelta(seconds=1)
    async with db.transaction() as session:
        first = await claim_key(session, scope=scope, key=key, fingerprint="a" * 64, now=old)
    async with db.transaction() as session:
        second = await claim_key(session, scope=scope, key=key, fingerprint="b" * 64, now=utcnow())
    assert first.outcome is second.outcome is Outcome.CLAIMED
    async with db.transaction() as session:
        await store_answer(
            session,
            scope=scope,
            key=key,
            claimed_at=old,
            status_code=201,
            headers={},
            sealed_body=b"late",
        )
        await release_claim(session, scope=scope, key=key, claimed_at=old)
    async with db.read() as session:
        row = await session.get(IdempotencyKeyRow, (scope, key))
        assert row is not None
        assert (row.state, row.fingerprint, row.response_sealed) == (IN_PROGRESS, "b" * 64, None)
    async with db.transaction() as session:
        await release_claim(session, scope=scope, key=key, claimed_at=second.row.created_at)
    async with db.read() as session:
        assert await session.get(IdempotencyKeyRow, (scope, key)) is None


async def test_cleanup_deletes_only_expired_rows(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        await delete_expired_idempotency_keys(session, now)  # whatever earlier tests left
    scope = _scope(secrets.token_hex(8))

    def row(key: str, expires_in: timedelta) -> IdempotencyKeyRow:
        return IdempotencyKeyRow(
            scope=scope,
            key=key,
            fingerprint="0" * 64,
            state=DONE,
            status_code=200,
            created_at=now - timedelta(hours=1),
            expires_at=now + expires_in,
        )

    async with db.transaction() as session:
        session.add_all(
            [
                row("old-1", -timedelta(seconds=1)),
                row("old-2", -timedelta(hours=2)),
                row("live", timedelta(hours=1)),
            ]
        )
    async with db.transaction() as session:
        assert await delete_expired_idempotency_keys(session, now) == 2
    async with db.read() as session:
        left = await session.scalars(
            select(IdempotencyKeyRow.key).where(IdempotencyKeyRow.scope == scope)
        )
        assert list(left) == ["live"]


async def test_query_posts_are_never_stored(tenant: TenantClient, db: Database) -> None:
    """Search and decrypt answers hold buyer data: not kept, not replayed without a new
    audit record."""
    from sqlalchemy import func, select

    from shopbridge.storage.tables import IdempotencyKeyRow

    async with db.read() as session:
        before = await session.scalar(select(func.count()).select_from(IdempotencyKeyRow))
    for _ in range(2):
        resp = await tenant.post(
            "/v1/orders/search",
            json={"phone": "13912345678"},
            headers={"Idempotency-Key": "search-1"},
        )
        assert resp.status_code == 200
        assert "Idempotent-Replayed" not in resp.headers
    async with db.read() as session:
        after = await session.scalar(select(func.count()).select_from(IdempotencyKeyRow))
    assert after == before
