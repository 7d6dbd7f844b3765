"""The dashboard's way into ShopBridge: the `/v1` API of the same app, in-process.

Why not the repositories directly: going through the API with the signed-in user's key means
the dashboard can never show more than that key may see. Authentication, scopes, tenant
scoping, buyer-data masking, the reveal audit and the brute-force limiter all apply exactly
as for any API client, and there is no second copy of that logic to keep in step. The cost is
an ASGI round trip per call inside the process (no socket, no serialisation beyond JSON).

The caller's own address is passed on as the ASGI client, so failed sign-ins count against
the browser's address in the API's brute-force limiter, not against the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
from starlette.types import ASGIApp

INTERNAL_BASE_URL = "http://shopbridge.dashboard"
API_TIMEOUT_SECONDS = 30.0
REVEAL_REASON = "operator dashboard"
"""Sent as `Reveal-Reason`: the audit trail says where an unmasked read came from."""


class ApiError(Exception):
    """The API answered with an error; `detail` is its problem+json detail (safe to show:
    problem details never carry buyer data)."""

    def __init__(self, status: int, title: str, detail: str, type_: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_

    @property
    def unauthorized(self) -> bool:
        return self.status == 401

    @property
    def missing_route(self) -> bool:
        """404 or 405 for a route this build may not have yet (health endpoints)."""
        return self.status in (404, 405)


class DashboardApi:
    """An httpx client bound to the app and one API key."""

    def __init__(self, app: ASGIApp, key: str | None, client_host: str = "127.0.0.1") -> None:
        headers = {"Accept": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=app, raise_app_exceptions=False, client=(client_host, 0)
            ),
            base_url=INTERNAL_BASE_URL,
            headers=headers,
            timeout=API_TIMEOUT_SECONDS,
        )

    async def __aenter__(self) -> DashboardApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        return _body(await self._client.get(path, params=_clean(params), headers=headers))

    async def post(
        self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Any:
        return _body(await self._client.post(path, json=dict(body), headers=headers))

    async def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return _body(await self._client.patch(path, json=dict(body)))

    async def get_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, cap: int = 2000
    ) -> list[dict[str, Any]]:
        """Every item of a paged list, following `next_cursor`, at most `cap` of them (a
        dashboard page must stay quick however large the install)."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        while True:
            page = await self.get(path, query)
            items.extend(page.get("data", []))
            cursor = page.get("next_cursor")
            if not cursor or len(items) >= cap:
                return items[:cap]
            query["cursor"] = cursor


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}


def _body(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        title, detail, type_ = "Error", f"HTTP {response.status_code}", ""
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            title = str(problem.get("title") or title)
            detail = str(problem.get("detail") or detail)
            type_ = str(problem.get("type") or "")
        raise ApiError(response.status_code, title, detail, type_)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()
