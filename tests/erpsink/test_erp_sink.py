"""The sample ERP receiver (`shopbridge erp-sink`): signature checks, deduplication, paging,
durability, status page and CLI, exercised the way ShopBridge's delivery will call it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from shopbridge.erpsink import Store, create_app, load_secret
from tests.helpers import free_port, wait_ready

SECRET = "whsec_" + base64.b64encode(b"erp-sink-test-secret-0123456789").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some-other-secret-abcdefghijklm").decode()
CLI = [sys.executable, "-m", "shopbridge.cli"]


def event(
    event_id: str,
    *,
    order: str = "ord_01TEST",
    version: int = 1,
    event_type: str = "order.created",
    buyer: str = "张三",
) -> str:
    """An event body shaped as ShopBridge sends it."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "timestamp": "2026-12-03T21:00:00.123456Z",
            "tenant_id": "ten_default",
            "shop_id": "shop_01TEST",
            "cursor": "123",
            "data": {
                "order": {
                    "id": order,
                    "platform": "shopify",
                    "platform_order_id": f"po-{order}",
                    "status": "paid",
                    "buyer": {"name": buyer},
                },
                "version": version,
                "previous_status": "pending",
            },
        },
        ensure_ascii=False,
    )


def signed(body: str, msg_id: str, *secrets: str, at: datetime | None = None) -> dict[str, str]:
    """Headers as ShopBridge sends them; several secrets give several signatures."""
    moment = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "user-agent": "ShopBridge-Webhooks/test",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(
            Webhook(s).sign(msg_id, moment, body) for s in (secrets or (SECRET,))
        ),
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    sink_store = Store(tmp_path / "sink.db")
    yield sink_store
    sink_store.close()


def client_for(secrets: list[str], store: Store, allow_reset: bool = True) -> httpx.AsyncClient:
    app = create_app(secrets, store, allow_reset=allow_reset)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sink")


@pytest.fixture
async def sink(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for([SECRET], store) as client:
        yield client


async def post(client: httpx.AsyncClient, body: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/webhooks", content=body.encode(), headers=headers)


async def stats(client: httpx.AsyncClient) -> dict[str, int]:
    response = await client.get("/stats")
    assert response.status_code == 200
    result: dict[str, int] = response.json()
    return result


async def test_valid_delivery_is_stored(sink: httpx.AsyncClient) -> None:
    body = event("evt_1", version=3)
    response = await post(sink, body, signed(body, "evt_1"))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    assert await stats(sink) == {"received": 1, "distinct": 1, "duplicates": 0, "rejected": 0}
    events = (await sink.get("/events")).json()["data"]
    assert len(events) == 1
    stored = events[0]
    assert stored["event_id"] == "evt_1" and stored["type"] == "order.created"
    assert stored["order_id"] == "ord_01TEST" and stored["platform_order_id"] == "po-ord_01TEST"
    assert stored["shop_id"] == "shop_01TEST" and stored["version"] == 3
    assert stored["body"] == json.loads(body)


async def test_duplicate_is_acknowledged_but_not_stored_twice(sink: httpx.AsyncClient) -> None:
    body = event("evt_dup")
    first = await post(sink, body, signed(body, "evt_dup"))
    again = await post(sink, body, signed(body, "evt_dup"))  # a retry: new timestamp
    assert first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json() == {"ok": True, "duplicate": True}
    assert await stats(sink) == {"received": 2, "distinct": 1, "duplicates": 1, "rejected": 0}
    receipts = (await sink.get("/receipts")).json()["data"]
    assert [r["event_id"] for r in receipts] == ["evt_dup", "evt_dup"]


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b, signed(b, "evt_x", OTHER_SECRET)), id="wrong-secret"),
        pytest.param(lambda b, h: (b.replace("paid", "void"), h), id="body-changed"),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "evt_y"}), id="id-changed"),
        pytest.param(lambda b, h: (b, _without(h, "webhook-signature")), id="no-signature"),
        pytest.param(lambda b, h: (b, _without(h, "webhook-timestamp")), id="no-timestamp"),
        pytest.param(lambda b, h: (b, _without(h, "webhook-id")), id="no-id"),
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "garbage"}), id="malformed"),
        pytest.param(lambda b, h: (b, {**h, "webhook-signature": "v1,!!!"}), id="not-base64"),
        pytest.param(
            lambda b, h: (b, signed(b, "evt_x", at=datetime.now(UTC) - timedelta(minutes=10))),
            id="stale",
        ),
        pytest.param(
            lambda b, h: (b, signed(b, "evt_x", at=datetime.now(UTC) + timedelta(minutes=10))),
            id="future",
        ),
    ],
)
async def test_unauthentic_deliveries_are_401_and_store_nothing(
    sink: httpx.AsyncClient, tamper: Any
) -> None:
    body = event("evt_x")
    bad_body, bad_headers = tamper(body, signed(body, "evt_x"))
    response = await post(sink, bad_body, bad_headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert await stats(sink) == {"received": 0, "distinct": 0, "duplicates": 0, "rejected": 1}
    assert (await sink.get("/receipts")).json()["data"] == []


async def test_rotation_two_signatures_one_valid(store: Store) -> None:
    """During a rotation ShopBridge sends two signatures; the ERP may know either secret."""
    body = event("evt_rot")
    both = signed(body, "evt_rot", OTHER_SECRET, SECRET)
    async with client_for([SECRET], store) as knows_new:
        assert (await post(knows_new, body, both)).status_code == 200
    only_old = signed(body, "evt_rot", OTHER_SECRET)
    async with client_for([SECRET, OTHER_SECRET], store) as knows_both:
        response = await post(knows_both, body, only_old)
        assert response.status_code == 200 and response.json()["duplicate"] is True


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("not json at all", "not JSON"),
        ('["a", "list"]', "id and type"),
        ('{"id": "evt_bad"}', "id and type"),
        ('{"id": "evt_other", "type": "order.created"}', "differs"),
    ],
)
async def test_signed_but_invalid_body_is_400(
    sink: httpx.AsyncClient, body: str, expected: str
) -> None:
    response = await post(sink, body, signed(body, "evt_bad"))
    assert response.status_code == 400
    assert expected in response.json()["error"]
    counts = await stats(sink)
    assert (counts["received"], counts["distinct"], counts["rejected"]) == (0, 0, 1)


async def test_non_utf8_body_is_400(sink: httpx.AsyncClient) -> None:
    headers = signed("x", "evt_bin")
    response = await sink.post("/webhooks", content=b"\xff\xfe", headers=headers)
    assert response.status_code == 400
    assert (await stats(sink))["received"] == 0


async def test_receipts_and_events_page_in_arrival_order(sink: httpx.AsyncClient) -> None:
    sent: list[tuple[str, str, int]] = []
    for version in range(1, 9):
        for order in ("ord_a", "ord_b", "ord_c"):
            event_id = f"evt_{order}_{version}"
            body = event(event_id, order=order, version=version, event_type="order.updated")
            assert (await post(sink, body, signed(body, event_id))).status_code == 200
            sent.append((event_id, order, version))
    body = event("evt_ord_a_1", order="ord_a", version=1)  # a replay of an old event
    assert (await post(sink, body, signed(body, "evt_ord_a_1"))).json()["duplicate"] is True

    receipts: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await sink.get("/receipts", params={"after": after, "limit": 10})).json()
        if not page["data"]:
            assert page["next"] == after
            break
        assert len(page["data"]) <= 10
        receipts += page["data"]
        after = page["next"]
        assert after == page["data"][-1]["rowid"]
    assert len(receipts) == len(sent) + 1
    assert [r["rowid"] for r in receipts] == sorted(r["rowid"] for r in receipts)
    assert [(r["event_id"], r["order_id"], r["version"]) for r in receipts[:-1]] == sent
    for order in ("ord_a", "ord_b", "ord_c"):
        versions = [r["version"] for r in receipts[:-1] if r["order_id"] == order]
        assert versions == list(range(1, 9))
    assert all(isinstance(r["received_at"], float) for r in receipts)

    events = (await sink.get("/events", params={"after": 0, "limit": 10_000})).json()
    assert [e["event_id"] for e in events["data"]] == [s[0] for s in sent]
    assert events["data"][0]["body"]["data"]["version"] == 1
    tail = (await sink.get("/events", params={"after": events["data"][-3]["rowid"]})).json()
    assert len(tail["data"]) == 2


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "10001"}, {"after": "-1"}, {"after": "x"}]
)
async def test_bad_paging_is_400(sink: httpx.AsyncClient, params: dict[str, str]) -> None:
    for path in ("/receipts", "/events"):
        response = await sink.get(path, params=params)
        assert response.status_code == 400 and "error" in response.json()


async def test_store_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    first = Store(path)
    async with client_for([SECRET], first) as client:
        for i in range(3):
            body = event(f"evt_{i}", version=i + 1)
            assert (await post(client, body, signed(body, f"evt_{i}"))).status_code == 200
    # No close(): the acknowledged rows must already be committed (as after a crash).
    reopened = Store(path)
    try:
        assert reopened.counts() == (3, 3)
        assert [r["version"] for r in reopened.receipts()] == [1, 2, 3]
        assert reopened.events()[2]["body"]["id"] == "evt_2"
    finally:
        reopened.close()
        first.close()


async def test_status_page_shows_counts_and_events_but_no_bodies(sink: httpx.AsyncClient) -> None:
    body = event("evt_page", buyer="王小明", event_type="order.status_changed", version=7)
    await post(sink, body, signed(body, "evt_page"))
    await post(sink, body, signed(body, "evt_page"))
    await post(sink, body, signed(body, "evt_page", OTHER_SECRET))
    response = await sink.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<title>ShopBridge sample ERP receiver</title>" in page
    assert 'http-equiv="refresh" content="2"' in page
    assert "order.status_changed" in page and "ord_01TEST" in page and "evt_page" in page
    assert "<b>2</b><span>received</span>" in page and "<b>1</b><span>rejected</span>" in page
    assert "No matching signature found" in page  # why the last delivery was refused
    assert "王小明" not in page  # buyer data stays in the stored body
    assert "http://" not in page.replace("http-equiv", "") and "<script" not in page


async def test_reset_only_when_allowed(store: Store) -> None:
    body = event("evt_r")
    async with client_for([SECRET], store, allow_reset=False) as locked:
        await post(locked, body, signed(body, "evt_r"))
        assert (await locked.post("/_reset")).status_code == 404
        assert store.counts() == (1, 1)
    async with client_for([SECRET], store, allow_reset=True) as open_:
        assert (await open_.post("/_reset")).json() == {"ok": True}
        assert await stats(open_) == {
            "received": 0,
            "distinct": 0,
            "duplicates": 0,
            "rejected": 0,
        }


@pytest.mark.parametrize("secret", ["notasecret", "whsec_", "whsec_!!!not base64", "sk_abc"])
def test_bad_secrets_are_refused(store: Store, secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_") as caught:
        create_app([secret], store)
    assert secret not in str(caught.value) or secret == "whsec_"


def test_no_secret_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at least one"):
        create_app([], store)


def test_unpadded_secret_is_accepted() -> None:
    load_secret(SECRET.rstrip("="))


def test_signature_by_hand_matches_the_documented_recipe() -> None:
    """docs/erp-integration.md tells ERPs without a Standard Webhooks library to compute
    HMAC-SHA256("{webhook-id}.{webhook-timestamp}.{body}") with the decoded secret."""
    body = event("evt_hand")
    headers = signed(body, "evt_hand")
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    message = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")]
    assert any(hmac.compare_digest(expected, g) for g in given)


def test_cli_refuses_a_bad_secret_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "erp-sink", "--secret", "notasecret", "--store", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "--secret" in lines[0] and "notasecret" not in lines[0]
    assert not (tmp_path / "s.db").exists()


def test_cli_runs_a_real_receiver(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "nested" / "sink.db"
    proc = subprocess.Popen(
        [*CLI, "erp-sink", "--port", str(port), "--secret", SECRET, "--store", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_ready(base, path="/stats"):
            pytest.fail("erp-sink did not start")
        body = event("evt_cli")
        response = httpx.post(
            f"{base}/webhooks", content=body.encode(), headers=signed(body, "evt_cli")
        )
        assert response.status_code == 200 and response.json()["duplicate"] is False
        assert httpx.get(f"{base}/stats").json() == {
            "received": 1,
            "distinct": 1,
            "duplicates": 0,
            "rejected": 0,
        }
        assert httpx.post(f"{base}/_reset").status_code == 404  # not started with --allow-reset
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    # uvicorn re-raises SIGTERM after its graceful shutdown, so -SIGTERM is a clean stop.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert f"{base}/webhooks" in output and "Traceback" not in output
    reopened = Store(db)
    try:
        assert reopened.counts() == (1, 1)
    finally:
        reopened.close()
