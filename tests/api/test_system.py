"""Health, readiness, metrics, OpenAPI and the problem format of unknown routes."""

from __future__ import annotations

import httpx


async def test_healthz(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readyz_reports_database_and_revision(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready"
    assert body["database"] in {"sqlite", "postgresql"}
    assert body["schema_revision"]


async def test_metrics_are_prometheus_text(anon: httpx.AsyncClient) -> None:
    await anon.get("/healthz")
    resp = await anon.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "shopbridge_http_requests_total" in resp.text
    assert 'route="/healthz"' in resp.text
    assert "shopbridge_build_info" in resp.text


async def test_openapi_and_docs(anon: httpx.AsyncClient) -> None:
    spec = (await anon.get("/openapi.json")).json()
    assert spec["info"]["title"] == "ShopBridge"
    for path in ("/v1/shops", "/v1/orders", "/v1/tenants", "/v1/api-keys", "/healthz", "/readyz"):
        assert path in spec["paths"], path
    docs = await anon.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "cdn." not in docs.text  # assets are served locally (works offline)
    for asset in (
        "/static-offline-docs/swagger-ui-bundle.js",
        "/static-offline-docs/swagger-ui.css",
    ):
        assert (await anon.get(asset)).status_code == 200


async def test_unknown_route_is_problem_json(anon: httpx.AsyncClient) -> None:
    resp = await anon.get("/v1/nope")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["type"] == "urn:shopbridge:problem:not-found"
    assert body["status"] == 404
    assert body["instance"] == "/v1/nope"


async def test_wrong_method_is_problem_json(anon: httpx.AsyncClient) -> None:
    resp = await anon.put("/healthz")
    assert resp.status_code == 405
    assert resp.headers["content-type"] == "application/problem+json"
