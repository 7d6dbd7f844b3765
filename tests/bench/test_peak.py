"""`shopbridge bench peak` as an operator runs it: a small flash sale end to end through real
processes (ShopBridge `serve`, the ERP sink, the Shopify sandboxes), asserting what it
reports and that nothing was lost — never how fast it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shopbridge.bench.peak import _split, percentile
from shopbridge.sandbox.common.runner import start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

CLI = [sys.executable, "-m", "shopbridge.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    # The bench starts its own ShopBridge on a fresh SQLite file in a temporary directory.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env["SHOPBRIDGE_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.mark.timeout(300)
def test_small_peak_end_to_end_reports_json_and_loses_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "bench", "peak", "--orders", "50", "--shops", "2", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in (
        "orders",
        "orders_per_s",
        "lost",
        "duplicates",
        "latency_ms",
        "baseline",
        "ratio_to_baseline",
        "events",
        "push_acks_per_s",
        "topology",
    ):
        assert key in report, key
    assert set(report["latency_ms"]) >= {"p50", "p95", "p99"}
    assert report["baseline"]["fastapi_parse_per_s"] > 0
    assert report["orders"] == 50 and report["shops"] == 2
    assert report["orders_pushed"] == 50 and report["orders_received"] == 50
    assert report["lost"] == 0
    assert report["events"] == 50 and report["rejected_by_sink"] == 0
    assert report["orders_per_s"] > 0 and report["ratio_to_baseline"] > 0
    p50, p95, p99 = (report["latency_ms"][q] for q in ("p50", "p95", "p99"))
    assert 0 < p50 <= p95 <= p99


def test_peak_refuses_impossible_sizes_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "bench", "peak", "--orders", "1", "--shops", "3"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_sandbox_burst_places_orders_and_paces_them() -> None:
    options = ShopifySandboxOptions(seed=0, push_url="http://127.0.0.1:9/unused")
    with start_in_thread(create_app(options)) as server:
        burst = httpx.post(f"{server.base_url}/_sandbox/burst", json={"orders": 30}).json()
        assert burst["orders"] == 30 and len(set(burst["ids"])) == 30
        paced = httpx.post(
            f"{server.base_url}/_sandbox/burst", json={"orders": 6, "per_second": 20}
        ).json()
        assert len(paced["ids"]) == 6
        assert paced["seconds"] >= 0.2  # 6 orders at 20/s: the last one is due after 0.25 s
        health = httpx.get(f"{server.base_url}/_sandbox/health").json()
        assert health["orders"] == 36
        refused = httpx.post(f"{server.base_url}/_sandbox/burst", json={"orders": 0})
        assert refused.status_code == 422


def test_percentiles_and_shares() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(1, 101))), 99) == pytest.approx(99.01)
    assert _split(10, 3) == [4, 3, 3] and sum(_split(2000, 3)) == 2000
