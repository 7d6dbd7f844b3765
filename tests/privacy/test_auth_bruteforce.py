"""Brute-force protection of API keys: after `auth_failures_per_minute` failed attempts from
one address, every attempt from it is answered 429 (a valid key too, so a guesser cannot tell
a hit) with `Retry-After`, until the failures age out of the 60 s window; other addresses are
unaffected. The suite's shared app runs with a huge limit (tests/conftest.py); these tests
use an app of their own with a small limit and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from shopbridge.api.app import create_app
from shopbridge.api.security import AuthFailureLimiter
from shopbridge.config import Settings
from tests.conftest import ADMIN_KEY

LIMIT = 3
ATTACKER = ("203.0.113.7", 40000)
BYSTANDER = ("198.51.100.9", 40001)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
async def limited_app(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    """An app of its own on the session's (already migrated) database, limit 3 a minute."""
    application = create_app(
        settings.model_copy(update={"auth_failures_per_minute": LIMIT}), migrate_on_start=False
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def clock(limited_app: FastAPI) -> FakeClock:
    """A fresh limiter per test, on a clock the test moves."""
    fake = FakeClock()
    limited_app.state.auth_limiter = AuthFailureLimiter(LIMIT, clock=fake)
    return fake


def client_from(app: FastAPI, address: tuple[str, int], key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=address),
        base_url="http://shopbridge.test",
        headers=headers,
    )


def assert_rate_limited(resp: httpx.Response, retry_after: int) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["retry-after"] == str(retry_after)
    body = resp.json()
    assert body["type"] == "urn:shopbridge:problem:rate-limited"
    assert body["status"] == 429


def failures(reason: str) -> float:
    value = REGISTRY.get_sample_value("shopbridge_auth_failures_total", {"reason": reason})
    return value or 0.0


async def test_an_address_over_the_limit_gets_429_until_the_window_passes(
    limited_app: FastAPI, clock: FakeClock
) -> None:
    invalid_before, limited_before = failures("invalid"), failures("rate_limited")
    async with (
        client_from(limited_app, ATTACKER, "sbk_guess_0000000000000000000000") as guesser,
        client_from(limited_app, ATTACKER, ADMIN_KEY) as same_address,
        client_from(limited_app, BYSTANDER, ADMIN_KEY) as bystander,
        client_from(limited_app, BYSTANDER, "sbk_typo") as bystander_typo,
    ):
        for _ in range(LIMIT):
            clock.now += 1
            assert (await guesser.get("/v1/me")).status_code == 401
        assert_rate_limited(await guesser.get("/v1/me"), retry_after=58)
        # A valid key from the same address is refused the same way: no oracle for hits.
        assert_rate_limited(await same_address.get("/v1/me"), retry_after=58)
        # Other addresses are unaffected, their own failures counted apart.
        assert (await bystander.get("/v1/me")).status_code == 200
        assert (await bystander_typo.get("/v1/me")).status_code == 401

        clock.now += 58  # the first failure leaves the window: one attempt again
        assert (await same_address.get("/v1/me")).status_code == 200
        assert (await guesser.get("/v1/me")).status_code == 401
        assert_rate_limited(await same_address.get("/v1/me"), retry_after=1)

        clock.now += 61  # every failure is out of the window
        assert (await same_address.get("/v1/me")).status_code == 200
    assert failures("invalid") - invalid_before == LIMIT + 2
    assert failures("rate_limited") - limited_before == 3


async def test_missing_revoked_and_expired_keys_count_as_failures(
    limited_app: FastAPI, clock: FakeClock, admin: httpx.AsyncClient
) -> None:
    issued = (
        await admin.post("/v1/api-keys", json={"name": "soon-revoked", "scopes": ["orders:read"]})
    ).json()
    assert (await admin.delete(f"/v1/api-keys/{issued['id']}")).status_code == 204
    async with (
        client_from(limited_app, ATTACKER, None) as no_key,
        client_from(limited_app, ATTACKER, issued["key"]) as revoked,
    ):
        assert (await no_key.get("/v1/me")).status_code == 401
        assert (await revoked.get("/v1/me")).status_code == 401
        assert (
            await no_key.get("/v1/me", headers={"Authorization": "Basic eDp5"})
        ).status_code == (401)
        assert_rate_limited(await no_key.get("/v1/me"), retry_after=60)


async def test_the_limit_comes_from_the_settings(limited_app: FastAPI) -> None:
    limited_app.state.auth_limiter = None  # built on first use from auth_failures_per_minute
    async with client_from(limited_app, ("192.0.2.44", 1), "sbk_nope") as guesser:
        statuses = [(await guesser.get("/v1/shops")).status_code for _ in range(LIMIT + 1)]
    assert statuses == [401] * LIMIT + [429]
    assert limited_app.state.auth_limiter.limit == LIMIT


def test_limiter_window_slides() -> None:
    clock = FakeClock()
    limiter = AuthFailureLimiter(3, window=60, clock=clock)
    for at in (0, 30, 45):
        clock.now = 1000 + at
        assert limiter.retry_after("a") is None
        limiter.record_failure("a")
    clock.now = 1050
    assert limiter.retry_after("a") == pytest.approx(10)
    clock.now = 1060  # the failure at 0 is out: one more try
    assert limiter.retry_after("a") is None
    limiter.record_failure("a")
    assert limiter.retry_after("a") == pytest.approx(30)  # until the one at 30 ages out
    clock.now = 1200
    assert limiter.retry_after("a") is None
    assert len(limiter) == 0  # forgotten once nothing is in the window


def test_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = AuthFailureLimiter(2, max_addresses=3, clock=clock)
    for i in range(10):
        clock.now += 1
        limiter.record_failure(f"10.0.0.{i}")
        limiter.record_failure(f"10.0.0.{i}")
    assert len(limiter) == 3
    assert limiter.retry_after("10.0.0.9") is not None
    assert limiter.retry_after("10.0.0.0") is None  # the oldest were evicted
    for _ in range(100):
        limiter.record_failure("10.0.0.9")
    assert len(limiter._failures["10.0.0.9"]) == 2  # at most `limit` timestamps kept


def test_limiter_refuses_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="positive"):
        AuthFailureLimiter(0)
