"""The operator dashboard: server-rendered pages under `/dashboard`, refreshed live.

Every page is plain HTML rendered here from what the `/v1` API answers to the signed-in
user's key (see `shopbridge.dashboard.api` for why it goes through the API). Live updates
need no framework: each page marks its changing part with `data-live`, and the dashboard's
own small script fetches that part again every two seconds (`X-Dashboard-Fragment: 1`) and
swaps it in. Without JavaScript the pages still work; they are just not live.

Actions (sync now, re-authorise a shop, replay dead letters, re-enable an endpoint, order search, sign-out) are
POSTed forms guarded by a per-session CSRF token and the session cookie's SameSite=Strict
(see `shopbridge.dashboard.session`); they answer with a redirect back to the page (a
303, so reloading the page never repeats the action), except the order search, whose
criteria are buyer data and so are never put in a URL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from shopbridge import __version__
from shopbridge.api.security import Principal
from shopbridge.api.validation import ID_PATTERN
from shopbridge.dashboard.api import REVEAL_REASON, ApiError, DashboardApi
from shopbridge.dashboard.health import (
    EndpointHealth,
    ShopHealth,
    derive,
    endpoint_health,
    from_health,
    worst_first,
)
from shopbridge.dashboard.render import render
from shopbridge.dashboard.session import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_SECONDS,
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    DashboardSession,
    InvalidSession,
    new_token,
    open_session,
    seal_session,
    tokens_match,
)
from shopbridge.dashboard.throughput import Throughput, throughput
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import SecretBox

log = get_logger(__name__)
router = APIRouter(prefix="/dashboard", include_in_schema=False)

STATIC = FsPath(__file__).resolve().parent / "static"
STATIC_FILES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
FRAGMENT_HEADER = "x-dashboard-fragment"
MAX_FORM_BYTES = 16 * 1024
REFRESH_MS = 2000
ShopId = Annotated[str, Path(pattern=ID_PATTERN)]

SECURITY_HEADERS = {
    # No inline script or style anywhere: whatever a platform or buyer put into a name
    # cannot run even if it ever slipped past escaping.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on POSTs,
    # and the origin check below wants the real one.
    "Referrer-Policy": "same-origin",
    # Pages may hold buyer data (keys with pii:read): never cached by a browser or proxy.
    "Cache-Control": "no-store",
}

NOTICES = {
    "sync_requested": "Sync requested: the shop is pulled again within a few seconds.",
    "credentials_updated": "Credentials updated, sync requested.",
    "credentials_updated_paused": "Credentials updated. The shop is paused: resume it to sync.",
    "resumed": "Shop resumed: syncing starts again within a few seconds.",
    "replayed": "Replay queued: {count} deliveries scheduled again.",
    "enabled": "Endpoint enabled again: pending deliveries go out now.",
}
"""Messages after an action, by code: the redirect carries only the code (and a count), so
nothing a user typed is ever reflected from a URL."""

SIGN_IN_REASONS = {
    "signed_out": "Signed out.",
    "expired": "Your session ended or the API key no longer works: sign in again.",
}


# --- plumbing --------------------------------------------------------------------------


@dataclass
class Visit:
    """One signed-in request: its session, an API client with its key, and what `/v1/me`
    said about the key (fetched once, on demand)."""

    request: Request
    session: DashboardSession
    api: DashboardApi
    fragment: bool
    _me: dict[str, Any] | None = field(default=None)

    async def me(self) -> dict[str, Any]:
        if self._me is None:
            self._me = await self.api.get("/v1/me")
        return self._me

    async def principal(self) -> Principal:
        me = await self.me()
        return Principal(
            tenant_id=str(me["tenant_id"]),
            key_id=str(me["key_id"]),
            scopes=frozenset(str(s) for s in me.get("scopes", [])),
        )

    async def can(self, scope: str) -> bool:
        """The API's own rule (`admin` implies every tenant scope but `pii:read`)."""
        return (await self.principal()).has(scope)


@dataclass
class Section:
    """Data of one part of a page, or why it cannot be shown (a missing scope, say): one
    unreadable part must not blank the whole page."""

    data: Any = None
    error: str | None = None


async def _section(load: Awaitable[Any]) -> Section:
    try:
        return Section(await load)
    except ApiError as exc:
        if exc.unauthorized:
            raise
        return Section(error=_api_message(exc))


def _api_message(exc: ApiError) -> str:
    if exc.status == 403:
        return f"Not available to this API key: {exc.detail}"
    return f"{exc.title}: {exc.detail}"


def _box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.box
    return box


def _client_host(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _html(template: str, context: dict[str, Any], status: int = 200) -> Response:
    return _secure(HTMLResponse(render(template, context), status_code=status))


def _safe_next(target: str | None) -> str:
    """Only a dashboard path of this site: an open redirect after sign-in would hand the
    fresh session's user to whoever crafted the link."""
    if not target:
        return "/dashboard"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/dashboard"):
        return "/dashboard"
    if target.startswith("//") or "\\" in target or parts.path.startswith("/dashboard/login"):
        return "/dashboard"
    return target


def _to_login(request: Request, *, reason: str | None = None, clear: bool = False) -> Response:
    path = request.url.path
    query = f"next={quote(path if path.startswith('/dashboard') else '/dashboard', safe='/')}"
    if reason:
        query += f"&reason={reason}"
    response = RedirectResponse(f"/dashboard/login?{query}", status_code=303)
    if clear:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return _secure(response)


def _signed_out(request: Request, fragment: bool, *, expired: bool = False) -> Response:
    if fragment:
        # The page's script reloads on 401, which lands on the sign-in page.
        response = Response(status_code=401)
        if expired:
            response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return _secure(response)
    return _to_login(request, reason="expired" if expired else None, clear=expired)


async def _serve(request: Request, build: Callable[[Visit], Awaitable[Response]]) -> Response:
    """Open the session, run `build` with an API client on the user's key, and turn a key
    the API no longer accepts into a trip to the sign-in page."""
    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    try:
        session = open_session(_box(request), request.cookies.get(SESSION_COOKIE))
    except InvalidSession:
        return _signed_out(request, fragment, expired=SESSION_COOKIE in request.cookies)
    async with DashboardApi(request.app, session.key, _client_host(request)) as api:
        visit = Visit(request, session, api, fragment)
        try:
            return _secure(await build(visit))
        except ApiError as exc:
            if exc.unauthorized:
                return _signed_out(request, fragment, expired=True)
            if fragment:
                return _secure(Response(status_code=exc.status))
            return await _error_page(visit, exc.status, _api_message(exc))


async def _error_page(visit: Visit, status: int, message: str) -> Response:
    try:
        context = await _chrome(visit, "error", "Error")
    except ApiError as exc:
        if exc.unauthorized:
            return _signed_out(visit.request, visit.fragment, expired=True)
        context = {
            "page": "error",
            "title": "Error",
            "version": __version__,
            "me": None,
            "pii": False,
            "retention": None,
            "csrf": visit.session.csrf,
            "notice": None,
            "refresh_ms": REFRESH_MS,
        }
    context.update(status=status, message=message)
    return _html("error.html", context, status=status)


async def _chrome(visit: Visit, page: str, title: str) -> dict[str, Any]:
    """What the header of every page needs: who is signed in, whether buyer data shows
    unmasked, the buyer-data retention mode (from `/readyz`), the CSRF token, a notice."""
    me = await visit.me()
    retention: str | None
    try:
        retention = (await visit.api.get("/readyz")).get("retention")
    except ApiError:
        retention = None  # not ready: the page still shows what it can
    notice = None
    code = visit.request.query_params.get("notice")
    if code in NOTICES:
        count = visit.request.query_params.get("count", "")
        notice = NOTICES[code].format(count=int(count) if count.isdigit() else "some")
    return {
        "page": page,
        "title": title,
        "version": __version__,
        "me": me,
        "pii": await visit.can("pii:read"),
        "retention": retention,
        "csrf": visit.session.csrf,
        "notice": notice,
        "refresh_ms": REFRESH_MS,
    }


def _same_origin(request: Request) -> bool:
    """Fetch metadata and Origin say the POST came from this site (a second line behind the
    CSRF token; older browsers send neither, and then the token alone decides)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form (what the dashboard's own forms send), or None. Parsed here
    rather than with python-multipart: the dashboard never takes files, and one dependency
    fewer is one less thing to patch."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in parsed.items() if values}


async def _action(
    request: Request, act: Callable[[Visit, dict[str, str]], Awaitable[Response]]
) -> Response:
    """A POSTed form of a signed-in user: CSRF-checked, then `act`."""

    async def build(visit: Visit) -> Response:
        form = await _form(request)
        if (
            form is None
            or not _same_origin(request)
            or not tokens_match(visit.session.csrf, form.get("csrf"))
        ):
            return await _error_page(
                visit,
                403,
                "The form was not sent from this dashboard's current session "
                "(stale page or cross-site request). Reload the page and try again.",
            )
        return await act(visit, form)

    return await _serve(request, build)


def _back(path: str, notice: str, count: int | None = None) -> Response:
    query = f"notice={notice}" + (f"&count={count}" if count is not None else "")
    return RedirectResponse(f"{path}?{query}", status_code=303)


# --- data loaders ----------------------------------------------------------------------


async def _shops(visit: Visit) -> list[dict[str, Any]]:
    return await visit.api.get_all("/v1/shops", {"limit": 500}, cap=1000)


async def _shop_names(visit: Visit) -> dict[str, str]:
    try:
        return {s["id"]: s["display_name"] for s in await _shops(visit)}
    except ApiError as exc:
        if exc.unauthorized:
            raise
        return {}


async def _failures_by_shop(
    visit: Visit, shop_id: str | None = None, limit: int = 200
) -> dict[str, list[dict[str, Any]]]:
    """Newest failed sync-log entries, per shop (newest first)."""
    page = await visit.api.get(
        "/v1/sync-log", {"failed": "true", "limit": limit, "shop_id": shop_id}
    )
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in page.get("data", []):
        grouped.setdefault(str(entry.get("shop_id")), []).append(entry)
    return grouped


async def _derived(
    visit: Visit, shops: Sequence[Mapping[str, Any]], shop_id: str | None = None
) -> list[ShopHealth]:
    """Health of `shops` from their sync state, for a build without `/v1/health/shops`."""

    async def sync_of(shop: Mapping[str, Any]) -> dict[str, Any] | None:
        if shop.get("status") == "disconnected":
            return None
        try:
            state: dict[str, Any] = await visit.api.get(f"/v1/shops/{shop['id']}/sync")
        except ApiError as exc:
            if exc.unauthorized:
                raise
            return None
        return state

    try:
        failures = await _failures_by_shop(visit, shop_id, limit=50 if shop_id else 200)
    except ApiError as exc:
        if exc.unauthorized:
            raise
        failures = {}
    states = await asyncio.gather(*(sync_of(shop) for shop in shops))
    return [
        derive(shop, state, failures.get(str(shop.get("id")), []))
        for shop, state in zip(shops, states, strict=True)
    ]


async def _health(
    visit: Visit, shops: Sequence[Mapping[str, Any]], shop_id: str | None = None
) -> list[ShopHealth]:
    """`GET /v1/health/shops` when this build has it, else derived (same shape)."""
    try:
        if shop_id is None:
            body = await visit.api.get("/v1/health/shops")
        else:
            body = {"data": [await visit.api.get(f"/v1/health/shops/{shop_id}")]}
    except ApiError as exc:
        if not exc.missing_route:
            raise
        return await _derived(visit, shops, shop_id)
    reported = {
        str(entry.get("shop_id")): from_health(entry)
        for entry in body.get("data", [])
        if isinstance(entry, dict)
    }
    missing = [s for s in shops if str(s.get("id")) not in reported]
    derived = await _derived(visit, missing, shop_id) if missing else []
    by_id = {h.shop_id: h for h in derived} | reported
    return [by_id[str(s.get("id"))] for s in shops if str(s.get("id")) in by_id]


async def _endpoint_healths(visit: Visit, *, deliveries: bool) -> list[EndpointHealth]:
    """Every endpoint with its backlog and dead letters: the counts from
    `GET /v1/health/webhooks` (one call), or per endpoint from its detail on a build
    without it; with `deliveries`, also the newest dead letters and retried deliveries."""
    endpoints = await visit.api.get_all("/v1/webhook-endpoints", {"limit": 200}, cap=200)
    reported: dict[str, Mapping[str, Any]] | None = None
    try:
        body = await visit.api.get("/v1/health/webhooks")
        reported = {
            str(entry.get("endpoint_id")): entry
            for entry in body.get("data", [])
            if isinstance(entry, dict)
        }
    except ApiError as exc:
        if not exc.missing_route:
            raise

    async def one(endpoint: Mapping[str, Any]) -> EndpointHealth:
        base = f"/v1/webhook-endpoints/{endpoint['id']}"
        entry = (reported or {}).get(str(endpoint["id"]))
        counts = entry if entry is not None else (await visit.api.get(base)).get("deliveries")
        dead: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        if deliveries:
            dead_page, pending_page = await asyncio.gather(
                visit.api.get(f"{base}/deliveries", {"state": "failed", "limit": 10}),
                visit.api.get(f"{base}/deliveries", {"state": "pending", "limit": 20}),
            )
            dead, pending = dead_page.get("data", []), pending_page.get("data", [])
        return endpoint_health(endpoint, counts, dead, pending, entry)

    return list(await asyncio.gather(*(one(e) for e in endpoints)))


async def _throughput(visit: Visit) -> Throughput:
    principal = await visit.principal()
    return await throughput(
        visit.request.app.state.db,
        principal.tenant_id,
        orders=principal.has("orders:read"),
        outbox=principal.has("events:read") or principal.has("webhooks:read"),
    )


# --- sign-in ---------------------------------------------------------------------------


def _login_page(
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    message: str | None = None,
    status: int = 200,
) -> Response:
    token = request.cookies.get(LOGIN_COOKIE) or new_token()
    response = _html(
        "login.html",
        {
            "title": "Sign in",
            "version": __version__,
            "csrf": token,
            "next": next_path,
            "error": error,
            "message": message,
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    return response


@router.get("/login")
async def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=512)] = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The sign-in form. Already signed in: straight on to the page asked for."""
    try:
        open_session(_box(request), request.cookies.get(SESSION_COOKIE))
    except InvalidSession:
        return _login_page(
            request, next_path=_safe_next(next), message=SIGN_IN_REASONS.get(reason or "")
        )
    return _secure(RedirectResponse(_safe_next(next), status_code=303))


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key against the API (`/v1/me`, from the browser's own address, so the
    API's brute-force limiter counts failures per browser) and start a session."""
    form = await _form(request) or {}
    next_path = _safe_next(form.get("next"))
    if not _same_origin(request) or not tokens_match(
        request.cookies.get(LOGIN_COOKIE), form.get("csrf")
    ):
        return _login_page(
            request,
            next_path=next_path,
            error="The sign-in form expired or came from another site. Try again.",
            status=403,
        )
    key = form.get("key", "").strip()
    if not key:
        return _login_page(
            request, next_path=next_path, error="Paste an API key (sbk_…).", status=400
        )
    async with DashboardApi(request.app, key, _client_host(request)) as api:
        try:
            await api.get("/v1/me")
        except ApiError as exc:
            # The API's own words ("The API key has been revoked.", "Too many failed
            # attempts…"); never the key itself, not even in the log.
            log.info("dashboard_sign_in_refused", status=exc.status)
            return _login_page(
                request,
                next_path=next_path,
                error=exc.detail,
                status=exc.status if exc.status in (401, 429) else 400,
            )
    session = DashboardSession(key=key, csrf=new_token(), issued_at=time.time())
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        seal_session(_box(request), session),
        max_age=SESSION_MAX_AGE_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_https(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return _secure(response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Drop the session cookie. CSRF-checked (a forced sign-out is a nuisance attack), but an
    already unusable session is simply cleared."""
    try:
        session = open_session(_box(request), request.cookies.get(SESSION_COOKIE))
    except InvalidSession:
        session = None
    if session is not None:
        form = await _form(request) or {}
        if not _same_origin(request) or not tokens_match(session.csrf, form.get("csrf")):
            return _secure(RedirectResponse("/dashboard", status_code=303))
    response = RedirectResponse("/dashboard/login?reason=signed_out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return _secure(response)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The dashboard's own stylesheet and script (a fixed list: nothing else is served)."""
    media = STATIC_FILES.get(name)
    if media is None:
        return _secure(Response(status_code=404))
    response = FileResponse(STATIC / name, media_type=media)
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- overview --------------------------------------------------------------------------


@router.get("")
async def overview(request: Request) -> Response:
    """Every shop with its health (worst first), orders ingested in the last 5 min and
    hour, the outbox and webhook backlogs."""

    async def build(visit: Visit) -> Response:
        shops = await _section(_shops(visit))
        health = (
            await _section(_health(visit, shops.data))
            if shops.error is None
            else Section(error=shops.error)
        )
        endpoints = await _section(_endpoint_healths(visit, deliveries=False))
        counts = await _section(_throughput(visit))
        context: dict[str, Any] = {
            "health": Section(worst_first(health.data), None) if health.error is None else health,
            "endpoints": endpoints,
            "counts": counts.data,
            "pending_deliveries": sum(e.pending or 0 for e in endpoints.data or []),
            "dead_letters": sum(e.failed or 0 for e in endpoints.data or []),
        }
        if visit.fragment:
            return HTMLResponse(render("_overview.html", context))
        context |= await _chrome(visit, "overview", "Overview")
        return HTMLResponse(render("overview.html", context))

    return await _serve(request, build)


# --- shop ------------------------------------------------------------------------------


@router.get("/shops/{shop_id}")
async def shop_page(request: Request, shop_id: ShopId) -> Response:
    """One shop: its sync state, the last failure explained with the action to take, the
    recent failures and calls from the sync log, the sync-now / resume buttons and the
    re-authorise form (outside the live part, so a refresh never wipes what is typed)."""

    async def build(visit: Visit) -> Response:
        shop = await visit.api.get(f"/v1/shops/{shop_id}")
        sync, health, failures, calls = await asyncio.gather(
            _section(visit.api.get(f"/v1/shops/{shop_id}/sync")),
            _section(_health(visit, [shop], shop_id)),
            _section(
                visit.api.get("/v1/sync-log", {"shop_id": shop_id, "failed": "true", "limit": 20})
            ),
            _section(visit.api.get("/v1/sync-log", {"shop_id": shop_id, "limit": 15})),
        )
        context: dict[str, Any] = {
            "shop": shop,
            "sync": sync,
            "health": (health.data or [None])[0] if health.error is None else None,
            "health_error": health.error,
            "failures": Section([] if failures.error else failures.data["data"], failures.error),
            "calls": Section([] if calls.error else calls.data["data"], calls.error),
            "csrf": visit.session.csrf,
        }
        if visit.fragment:
            return HTMLResponse(render("_shop.html", context))
        context |= await _chrome(visit, "shop", str(shop.get("display_name", "Shop")))
        context["can_write"] = await visit.can("shops:write")
        context["credential_fields"] = CREDENTIAL_FIELDS.get(str(shop.get("platform")))
        return HTMLResponse(render("shop.html", context))

    return await _serve(request, build)


@router.post("/shops/{shop_id}/sync")
async def sync_now(request: Request, shop_id: ShopId) -> Response:
    """Pull the shop now (`POST /v1/shops/{id}/sync`, which also lifts a sync pause such as
    an expired token). A paused shop is resumed instead (`PATCH … status: active`): the
    API's sync endpoint leaves a paused shop alone."""

    async def act(visit: Visit, form: dict[str, str]) -> Response:
        shop = await visit.api.get(f"/v1/shops/{shop_id}")
        if shop.get("status") == "paused":
            await visit.api.patch(f"/v1/shops/{shop_id}", {"status": "active"})
            return _back(f"/dashboard/shops/{shop_id}", "resumed")
        await visit.api.post(f"/v1/shops/{shop_id}/sync", {})
        return _back(f"/dashboard/shops/{shop_id}", "sync_requested")

    return await _action(request, act)


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    required: bool


CREDENTIAL_FIELDS: dict[str, tuple[CredentialField, ...]] = {
    "shopify": (
        CredentialField("access_token", "Admin API access token", True),
        CredentialField("app_secret", "App secret (verifies webhooks; optional)", False),
    ),
    "taobao": (
        CredentialField("app_key", "App key", True),
        CredentialField("app_secret", "App secret", True),
        CredentialField("session", "Session key (from the seller's authorisation)", True),
    ),
}
"""What the re-authorise form asks for, per platform. `PATCH /v1/shops/{id}` *replaces* the
stored credentials, so the form asks for every credential the connector needs."""


@router.post("/shops/{shop_id}/credentials")
async def reauthorise(request: Request, shop_id: ShopId) -> Response:
    """Store new credentials (`PATCH /v1/shops/{id}` with `credentials`, which replaces them
    and lifts a sync pause) and request a sync. The values are never logged or shown: an
    error page says only which field is missing."""

    async def act(visit: Visit, form: dict[str, str]) -> Response:
        shop = await visit.api.get(f"/v1/shops/{shop_id}")
        fields = CREDENTIAL_FIELDS.get(str(shop.get("platform")))
        if fields is None:
            return await _error_page(
                visit, 400, "This platform's credentials can only be changed through the API."
            )
        credentials = {f.name: form.get(f.name, "").strip() for f in fields}
        missing = [f.label for f in fields if f.required and not credentials[f.name]]
        if missing:
            return await _error_page(
                visit, 400, f"Nothing was changed: fill in {', '.join(missing)}."
            )
        await visit.api.patch(
            f"/v1/shops/{shop_id}", {"credentials": {k: v for k, v in credentials.items() if v}}
        )
        log.info("dashboard_credentials_replaced", shop_id=shop_id)
        if shop.get("status") != "active":
            return _back(f"/dashboard/shops/{shop_id}", "credentials_updated_paused")
        await visit.api.post(f"/v1/shops/{shop_id}/sync", {})
        return _back(f"/dashboard/shops/{shop_id}", "credentials_updated")

    return await _action(request, act)


# --- webhooks --------------------------------------------------------------------------


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    """Endpoints with their backlog, the deliveries being retried and the dead letters
    (each with the receiver's last answer), and a replay button per endpoint."""

    async def build(visit: Visit) -> Response:
        endpoints = await _section(_endpoint_healths(visit, deliveries=True))
        context: dict[str, Any] = {"endpoints": endpoints, "csrf": visit.session.csrf}
        if visit.fragment:
            return HTMLResponse(render("_webhooks.html", context))
        context |= await _chrome(visit, "webhooks", "Webhooks")
        return HTMLResponse(render("webhooks.html", context))

    return await _serve(request, build)


@router.post("/webhooks/{endpoint_id}/replay")
async def replay(request: Request, endpoint_id: ShopId) -> Response:
    """Queue every dead letter of the endpoint again (`POST /v1/events/replay`)."""

    async def act(visit: Visit, form: dict[str, str]) -> Response:
        body = await visit.api.post(
            "/v1/events/replay", {"endpoint_id": endpoint_id, "state": "failed"}
        )
        return _back("/dashboard/webhooks", "replayed", int(body.get("scheduled", 0)))

    return await _action(request, act)


@router.post("/webhooks/{endpoint_id}/enable")
async def enable(request: Request, endpoint_id: ShopId) -> Response:
    """Re-enable an endpoint that was disabled after failing too long."""

    async def act(visit: Visit, form: dict[str, str]) -> Response:
        await visit.api.patch(f"/v1/webhook-endpoints/{endpoint_id}", {"enabled": True})
        return _back("/dashboard/webhooks", "enabled")

    return await _action(request, act)


# --- orders ----------------------------------------------------------------------------

SEARCH_FIELDS = ("phone", "name", "email")


async def _orders_context(
    visit: Visit, orders: Section, search: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "orders": orders,
        "shop_names": await _shop_names(visit),
        "search": search,
        "pii": await visit.can("pii:read"),
        "csrf": visit.session.csrf,
    }


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    """The newest orders, masked unless the key holds `pii:read`, and the search form.
    Live only for masked keys: every unmasked read is audited, and a page refreshing every
    two seconds would bury the audit trail in its own reads."""

    async def build(visit: Visit) -> Response:
        orders = await _section(
            visit.api.get("/v1/orders", {"limit": 25}, headers={"Reveal-Reason": REVEAL_REASON})
        )
        if orders.error is None:
            orders.data = orders.data["data"]
        context = await _orders_context(visit, orders, None)
        if visit.fragment:
            return HTMLResponse(render("_orders.html", context))
        context |= await _chrome(visit, "orders", "Orders")
        return HTMLResponse(render("orders.html", context))

    return await _serve(request, build)


@router.post("/orders")
async def search_orders(request: Request) -> Response:
    """Search by phone, name or e-mail (`POST /v1/orders/search`). Answered directly, not
    redirected: the criteria are buyer data and must not end up in a URL or history."""

    async def act(visit: Visit, form: dict[str, str]) -> Response:
        search = {f: form.get(f, "").strip() for f in SEARCH_FIELDS}
        criteria: dict[str, Any] = {f: v for f, v in search.items() if v}
        if not criteria:
            orders = Section(error="Give a phone number, a name or an e-mail address.")
        else:
            orders = await _section(
                visit.api.post(
                    "/v1/orders/search",
                    criteria | {"limit": 50},
                    headers={"Reveal-Reason": REVEAL_REASON},
                )
            )
            if orders.error is None:
                orders.data = orders.data["data"]
        context = await _orders_context(visit, orders, search)
        context |= await _chrome(visit, "orders", "Orders")
        return HTMLResponse(render("orders.html", context))

    return await _action(request, act)


# --- stock -----------------------------------------------------------------------------


@router.get("/stock")
async def stock_page(request: Request) -> Response:
    """Available-to-promise per SKU and, under each, every listing it feeds with the value
    ShopBridge wants there, the value last pushed and why a push failed."""

    async def build(visit: Visit) -> Response:
        skus, listings = await asyncio.gather(
            _section(visit.api.get_all("/v1/stock", {"limit": 200}, cap=500)),
            _section(visit.api.get_all("/v1/listings", {"limit": 500}, cap=2000)),
        )
        # SKUs the ERP stated first; those only known from orders (not `tracked`) after.
        tracked = [s for s in skus.data or [] if s.get("tracked")]
        untracked = [s for s in skus.data or [] if not s.get("tracked")]
        by_sku: dict[str, list[dict[str, Any]]] = {}
        unmapped: list[dict[str, Any]] = []
        for listing in listings.data or []:
            components = listing.get("components") or []
            if not components:
                unmapped.append(listing)
            for component in components:
                by_sku.setdefault(str(component.get("sku")), []).append(listing)
        context: dict[str, Any] = {
            "skus": skus,
            "tracked": tracked,
            "untracked": untracked,
            "listings": listings,
            "by_sku": by_sku,
            "unmapped": unmapped,
            "shop_names": await _shop_names(visit),
        }
        if visit.fragment:
            return HTMLResponse(render("_stock.html", context))
        context |= await _chrome(visit, "stock", "Stock")
        return HTMLResponse(render("stock.html", context))

    return await _serve(request, build)
