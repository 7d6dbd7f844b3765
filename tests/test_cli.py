"""The `shopbridge` command as an operator runs it: a real process, real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_ENV
from tests.helpers import free_port, wait_ready

CLI = [sys.executable, "-m", "shopbridge.cli"]


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env["SHOPBRIDGE_DATA_DIR"] = str(tmp_path / "data")
    env["SHOPBRIDGE_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'cli.db'}"
    return env


def test_version(cli_env: dict[str, str]) -> None:
    result = run(["version"], cli_env)
    assert result.returncode == 0
    assert result.stdout.startswith("shopbridge ")


def test_help_everywhere(cli_env: dict[str, str]) -> None:
    for args in (
        ["--help"],
        ["serve", "--help"],
        ["db", "--help"],
        ["db", "upgrade", "--help"],
        ["keys", "create", "--help"],
        ["shops", "list", "--help"],
        ["events", "replay", "--help"],
    ):
        result = run(args, cli_env)
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["serve", "--port", "99999"],
        ["serve", "--port", "abc"],
        ["keys", "create", "--name", "x"],
        ["keys", "create", "--name", "x", "--scope", "root"],
        ["keys", "create", "--name", "x", "--scope", "admin", "--expires-in", "3 years"],
        ["shops", "resync", "shop_x", "--since", "yesterday"],
        ["shops", "resync", "shop_x", "--since", "2026-11-11T00:00:00"],
        ["events", "replay", "--shop", "shop_x", "--since", "last week"],
        ["events", "replay", "--shop", "shop_x", "--since", "2026-11-11T00:00:00"],
        ["events", "replay", "--shop", "shop_x"],
        ["events", "replay", "--failed"],
        ["bench", "teleport"],
    ],
)
def test_bad_arguments_give_one_line_and_nonzero_exit(
    cli_env: dict[str, str], args: list[str]
) -> None:
    result = run(args, cli_env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_bad_database_url_is_one_line(cli_env: dict[str, str]) -> None:
    cli_env["SHOPBRIDGE_DATABASE_URL"] = "mysql://localhost/x"
    result = run(["db", "upgrade"], cli_env)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: ") and "Traceback" not in result.stderr


def test_commands_before_upgrade_say_what_to_do(cli_env: dict[str, str]) -> None:
    result = run(["shops", "list"], cli_env)
    assert result.returncode == 1
    assert "shopbridge db upgrade" in result.stderr


def test_upgrade_then_keys_and_shops(cli_env: dict[str, str]) -> None:
    if os.environ.get(PG_ENV):
        pytest.skip(
            "CLI flow runs against its own SQLite file; PostgreSQL is covered by storage tests"
        )
    upgraded = run(["db", "upgrade"], cli_env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "revision" in upgraded.stdout
    current = run(["db", "current"], cli_env)
    assert current.returncode == 0
    missing = run(
        ["keys", "create", "--name", "ops", "--scope", "admin", "--tenant", "ten_nope"], cli_env
    )
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    created = run(
        ["keys", "create", "--name", "ops", "--scope", "admin", "--expires-in", "90d"], cli_env
    )
    assert created.returncode == 0, created.stderr
    assert "sbk_" in created.stdout
    listed = run(["shops", "list"], cli_env)
    assert listed.returncode == 0 and "No shops" in listed.stdout


def test_serve_demo_end_to_end(cli_env: dict[str, str], tmp_path: Path) -> None:
    """What a new user does: start the demo, read the key, create a key, connect a shop, and
    see the demo shop's orders arrive (masked) with nothing else installed."""
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--demo", "--port", str(port)],
        env=cli_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_ready(base):
            pytest.fail("server did not become ready")
        key = (Path(cli_env["SHOPBRIDGE_DATA_DIR"]) / "demo-admin.key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/docs").status_code == 200
        new_key = httpx.post(
            f"{base}/v1/api-keys", headers=headers, json={"name": "erp", "scopes": ["orders:read"]}
        )
        assert new_key.status_code == 201
        shop = httpx.post(
            f"{base}/v1/shops",
            headers=headers,
            json={"platform": "taobao", "platform_shop_id": "demo", "display_name": "Demo"},
        )
        assert shop.status_code == 201
        reader = {"Authorization": f"Bearer {new_key.json()['key']}"}
        deadline = time.monotonic() + 45
        orders: list[dict[str, object]] = []
        while time.monotonic() < deadline and not orders:
            orders = httpx.get(f"{base}/v1/orders", headers=reader).json()["data"]
            time.sleep(0.5)
        assert orders, "the demo's sandbox orders did not arrive"
        receiver = orders[0].get("receiver") or {}
        assert "*" in str(receiver.get("phone", "*")), "buyer data is masked without pii:read"
        assert httpx.get(f"{base}/", follow_redirects=True).status_code == 200  # the dashboard
        # The demo's sample ERP receives the orders as signed webhooks.
        [endpoint] = httpx.get(f"{base}/v1/webhook-endpoints", headers=headers).json()["data"]
        sink = endpoint["url"].removesuffix("/webhooks")
        stats: dict[str, int] = {}
        while time.monotonic() < deadline + 15 and not stats.get("distinct"):
            stats = httpx.get(f"{sink}/stats").json()
            time.sleep(0.5)
        assert stats["distinct"] > 0 and stats["rejected"] == 0, stats
        listed = run(["shops", "list"], cli_env)
        assert listed.returncode == 0 and "Demo" in listed.stdout
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert key in output  # the demo shows its admin key at start
    assert "Traceback" not in output


def test_bench_ingest_prints_json(cli_env: dict[str, str]) -> None:
    import json

    result = run(
        ["bench", "ingest", "--platform", "shopify", "--orders", "30", "--json"],
        cli_env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["orders_ingested"] == 30
    assert report["orders_per_second"] > 0 and report["baseline_parse_orders_per_second"] > 0


_SEED_REPLAY = """
import asyncio
from shopbridge.config import get_settings
from shopbridge.storage import tenants as tenant_store
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.events import sequence_committed
from shopbridge.storage.outbox import append_event
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.webhooks import WebhookRepository


async def main() -> None:
    settings = get_settings()
    box = SecretBox.from_config(None, settings.key_file)
    db = Database(settings.effective_database_url)
    async with db.transaction() as session:
        await tenant_store.ensure_default_tenant(session)
        shop, _ = await ShopRepository(session, "ten_default", box).connect(
            platform="taobao", platform_shop_id="seller-1", display_name="TB",
            credentials={"session": "s"}, settings={},
        )
        await WebhookRepository(session, "ten_default", box).create(
            url="https://erp.example.com/hooks", secret="whsec_" + "x" * 32
        )
        for n in range(3):
            await append_event(
                session, tenant_id="ten_default", type="order.created",
                payload={"n": n}, shop_id=shop.id, subject_id=f"ord_{n}",
            )
    await sequence_committed(db)
    await db.dispose()
    print(shop.id)


asyncio.run(main())
"""


def test_events_replay_requeues_and_rejects_unknown_shop(cli_env: dict[str, str]) -> None:
    if os.environ.get(PG_ENV):
        pytest.skip("CLI flow runs against its own SQLite file")
    assert run(["db", "upgrade"], cli_env).returncode == 0
    seeded = subprocess.run(
        [sys.executable, "-c", _SEED_REPLAY],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    shop_id = seeded.stdout.strip().splitlines()[-1]
    replayed = run(
        ["events", "replay", "--shop", shop_id, "--since", "2000-01-01T00:00:00+00:00"], cli_env
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "3 events" in replayed.stdout and "3 deliveries re-queued" in replayed.stdout
    assert "Traceback" not in replayed.stderr
    unknown = run(
        ["events", "replay", "--shop", "shop_nope", "--since", "2000-01-01T00:00:00+00:00"],
        cli_env,
    )
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("error: ") and "shop_nope" in unknown.stderr
    no_endpoint = run(["events", "replay", "--failed", "--endpoint", "whe_nope"], cli_env)
    assert no_endpoint.returncode == 2 and "not found" in no_endpoint.stderr
