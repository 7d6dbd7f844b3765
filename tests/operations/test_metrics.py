"""The example Grafana dashboard only charts metrics the app really exposes at `/metrics`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "shopbridge-dashboard.json"
METRIC = re.compile(r"shopbridge_[a-z_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def _exposed(text: str) -> dict[str, str]:
    """Metric name -> type, from the `# TYPE` lines (present even for a labelled metric
    that has no series yet)."""
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
    return types


def _base(name: str, types: dict[str, str]) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and types.get(base) == "histogram":
            return base
    return name


def test_dashboard_is_grafana_10_with_prometheus_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] >= 38
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


async def test_dashboard_metrics_exist(anon: httpx.AsyncClient) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    resp = await anon.get("/metrics")
    assert resp.status_code == 200
    types = _exposed(resp.text)
    used = {name for expr in _expressions(dashboard) for name in METRIC.findall(expr)}
    assert used, "the dashboard queries no shopbridge metric"
    missing = sorted(name for name in used if _base(name, types) not in types)
    assert not missing, f"charted but not exposed at /metrics: {missing}"
    for required in (
        "shopbridge_orders_ingested_total",
        "shopbridge_webhook_attempts_total",
        "shopbridge_webhook_delivery_seconds",
        "shopbridge_platform_calls_total",
        "shopbridge_platform_call_seconds",
        "shopbridge_stock_pushes_total",
        "shopbridge_outbox_backlog",
        "shopbridge_http_requests_total",
        "shopbridge_http_request_duration_seconds",
    ):
        assert required in types, required
        assert any(_base(name, types) == required for name in used), required
