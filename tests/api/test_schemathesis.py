"""Property-based API fuzzing: schemathesis generates requests from /openapi.json (valid and
invalid ones) against a real server; no 5xx, every response matches the published schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY

# `positive_data_acceptance` is left out on purpose: it expects every schema-valid input to be
# accepted, but ShopBridge refuses, by design, inputs JSON Schema cannot describe: text with
# NUL or unpaired surrogates (no database can store it) and cursors it did not issue.
CHECKS_EXCLUDED = "positive_data_acceptance"


@pytest.mark.timeout(420)
def test_api_conforms_to_its_schema(live_server: str, tmp_path: Path) -> None:
    seed = os.environ.get("SHOPBRIDGE_SCHEMATHESIS_SEED", "20261203")
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{live_server}/openapi.json",
        "--header",
        f"Authorization: Bearer {ADMIN_KEY}",
        "--checks",
        "all",
        "--exclude-checks",
        CHECKS_EXCLUDED,
        "--max-examples",
        os.environ.get("SHOPBRIDGE_SCHEMATHESIS_EXAMPLES", "30"),
        "--workers",
        "1",
        "--seed",
        seed,
        "--no-color",
    ]
    env = {**os.environ, "HOME": str(tmp_path), "NO_COLOR": "1"}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=400, check=False, cwd=tmp_path, env=env
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-15000:]
    assert "500 Internal Server Error" not in report
