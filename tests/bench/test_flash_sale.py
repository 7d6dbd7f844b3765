"""`shopbridge bench flash-sale` as an operator runs it: a small flash sale of one hot SKU on
three Shopify sandboxes that refuse checkouts beyond what they show, through real processes,
asserting that ShopBridge sells exactly the stock while the naive baseline oversells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shopbridge.bench.flash_sale import _zero_since
from shopbridge.storage.inventory import even_out

CLI = [sys.executable, "-m", "shopbridge.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env["SHOPBRIDGE_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.mark.timeout(60)
def test_small_flash_sale_never_oversells_and_the_baseline_does(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(*CLI, "bench", "flash-sale", "--json"),
            *("--sku-stock", "20", "--shops", "3", "--buyers", "100"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=58,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in (
        "stock",
        "sold",
        "oversell",
        "seconds_to_all_listings_zero",
        "baseline",
        "buyers",
        "shops",
        "refused_checkouts",
        "seconds_of_sale",
        "topology",
    ):
        assert key in report, key
    assert (report["stock"], report["shops"], report["buyers"]) == (20, 3, 100)
    assert report["failed_checkouts"] == 0
    assert report["sold"] + report["refused_checkouts"] == 100
    assert report["oversell"] == 0 and report["sold"] == 20
    assert report["allocation"]["allocated_per_shop"] == [7, 7, 6]
    assert report["allocation"]["sold_per_shop"] == [7, 7, 6]
    # Every sale came off the shop that made it: nothing had to be pushed during the sale.
    assert report["shopbridge"]["stock_pushes_during_sale"] == 0
    assert report["shopbridge"]["reserved"] == 20 and report["shopbridge"]["settled"]
    assert report["shopbridge"]["listings_final"] == [0, 0, 0]
    assert report["seconds_to_all_listings_zero"] is not None
    assert report["seconds_to_all_listings_zero"] >= 0
    baseline = report["baseline"]
    assert baseline["oversell"] > 0 and baseline["sold"] == 20 + baseline["oversell"]
    assert baseline["poll_interval_s"] == 60 and baseline["polls_during_sale"] == 0


def test_flash_sale_refuses_an_unknown_allocation_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "bench", "flash-sale", "--allocation", "greedy"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--allocation" in lines[0]


def test_split_keeps_each_listings_share_and_evens_out_changes() -> None:
    # A sale comes off the listing that made it: shares equal what the listings show.
    assert even_out([33, 32, 33], 98) == [33, 32, 33]
    # Fewer units: taken from the largest first; more: given to the smallest first.
    assert even_out([10_000, 10_000, 10_000], 100) == [34, 33, 33]
    assert even_out([0, 0, 0], 8) == [3, 3, 2]
    assert even_out([0, 10, 10], 21) == [1, 10, 10]
    assert even_out([20, 2, 2], 12) == [8, 2, 2]
    assert even_out([5, 5], 0) == [0, 0]


def test_zero_since_is_the_start_of_the_final_zero_stretch() -> None:
    assert _zero_since([]) is None
    assert _zero_since([(1.0, False), (2.0, True), (3.0, False), (4.0, True), (5.0, True)]) == 4.0
    assert _zero_since([(1.0, True), (2.0, False)]) is None
