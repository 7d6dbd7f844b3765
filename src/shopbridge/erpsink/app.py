"""The sample ERP receiver: what the receiving side of ShopBridge webhooks looks like.

Read this as a model for your own endpoint. Per delivery it does exactly what an ERP must:

1. verify the Standard Webhooks signature over the *raw* body, against every secret that is
   currently valid (during a secret rotation ShopBridge signs with two),
2. reject anything unsigned, mis-signed or older than five minutes with 401 and store
   nothing (a replayed old request is rejected by the timestamp check),
3. store the event, deduplicated by its id (``webhook-id``), and commit,
4. only then answer 2xx: ShopBridge treats any 2xx as delivered and never sends it again,
   anything else (or a timeout) as "retry later".

It answers fast and does nothing else in the request: an ERP that needs seconds to book an
order should store the event, answer 200, and work from its own table afterwards. Slow
answers are timed out and retried, which only produces duplicates.

Also served, for people and tests: ``GET /`` (a status page), ``GET /stats``,
``GET /receipts`` and ``GET /events`` (paged by ``after``/``limit``), and ``POST /_reset``
when enabled.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .store import MAX_PAGE, Store

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
PAGE_LIMIT_DEFAULT = 1000

_ACK_FIRST = b'{"ok":true,"duplicate":false}'
_ACK_DUPLICATE = b'{"ok":true,"duplicate":true}'


def load_secret(secret: str) -> Webhook:
    """A verifier for one ``whsec_<base64>`` secret; ValueError says what is wrong with it.

    The message never repeats the secret: it ends up in terminals and logs.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_ (copy it as ShopBridge showed it)")
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("the part after whsec_ is not base64") from exc
    if not key:
        raise ValueError("the secret after whsec_ is empty")
    return Webhook(secret)


class _Rejections:
    """How many deliveries were refused, and the last few reasons, kept in memory only.

    Nothing of a rejected request is written to the store; the reasons (never the body)
    are shown on the status page because "why is my endpoint answering 401?" is the first
    question everyone integrating webhooks asks.
    """

    def __init__(self) -> None:
        self.count = 0
        self.recent: deque[tuple[float, int, str, str]] = deque(maxlen=20)

    def add(self, status: int, reason: str, webhook_id: str) -> Response:
        self.count += 1
        self.recent.appendleft((time.time(), status, reason, webhook_id[:64]))
        return JSONResponse({"error": reason}, status_code=status)


def create_app(secrets: list[str], store: Store, *, allow_reset: bool = False) -> Starlette:
    """The receiver as an ASGI app. ``secrets`` are the endpoint's ``whsec_…`` secrets (give
    both the old and the new one during a rotation); the caller owns and closes ``store``."""
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    verifiers = [load_secret(secret) for secret in secrets]
    rejections = _Rejections()

    def signature_error(body: str, headers: dict[str, str]) -> str | None:
        """None when any secret verifies the request, else why not."""
        error = "no matching signature found"
        for verifier in verifiers:
            try:
                verifier.verify(body, headers, json_parse=False)
                return None
            except WebhookVerificationError as exc:
                error = str(exc) or "signature verification failed"
            except ValueError:  # e.g. a signature without "v1," or not base64
                error = "malformed webhook-signature header"
        return error

    async def receive(request: Request) -> Response:
        raw = await request.body()
        headers = {name: request.headers.get(name, "") for name in SIGNATURE_HEADERS}
        webhook_id = headers["webhook-id"]
        try:
            body = raw.decode()
        except UnicodeDecodeError:
            return rejections.add(400, "body is not UTF-8 text", webhook_id)
        error = signature_error(body, headers)
        if error is not None:
            return rejections.add(401, error, webhook_id)
        # Authentic from here on, but a sender bug is still possible: refuse, store nothing.
        try:
            event = json.loads(body)
        except ValueError:
            return rejections.add(400, "body is not JSON", webhook_id)
        if not (
            isinstance(event, dict)
            and isinstance(event.get("id"), str)
            and isinstance(event.get("type"), str)
        ):
            return rejections.add(400, "body is not an event: id and type are needed", webhook_id)
        if event["id"] != webhook_id:
            return rejections.add(400, "webhook-id header differs from the body's id", webhook_id)
        duplicate = store.record(event, body)  # committed when it returns
        return Response(_ACK_DUPLICATE if duplicate else _ACK_FIRST, media_type="application/json")

    def stats_document() -> dict[str, int]:
        received, distinct = store.counts()
        return {
            "received": received,
            "distinct": distinct,
            "duplicates": received - distinct,
            "rejected": rejections.count,
        }

    async def stats(request: Request) -> Response:
        return JSONResponse(stats_document())

    def paging(request: Request) -> tuple[int, int] | Response:
        try:
            after = int(request.query_params.get("after", "0"))
            limit = int(request.query_params.get("limit", str(PAGE_LIMIT_DEFAULT)))
        except ValueError:
            return JSONResponse({"error": "after and limit are integers"}, status_code=400)
        if after < 0 or not 1 <= limit <= MAX_PAGE:
            return JSONResponse(
                {"error": f"after >= 0 and 1 <= limit <= {MAX_PAGE}"}, status_code=400
            )
        return after, limit

    async def receipts(request: Request) -> Response:
        page = paging(request)
        if isinstance(page, Response):
            return page
        rows = store.receipts(*page)
        return JSONResponse({"data": rows, "next": rows[-1]["rowid"] if rows else page[0]})

    async def events(request: Request) -> Response:
        page = paging(request)
        if isinstance(page, Response):
            return page
        rows = store.events(*page)
        return JSONResponse({"data": rows, "next": rows[-1]["rowid"] if rows else page[0]})

    async def index(request: Request) -> Response:
        return HTMLResponse(
            _status_page(stats_document(), store.latest_events(50), list(rejections.recent))
        )

    async def reset(request: Request) -> Response:
        store.reset()
        rejections.count = 0
        rejections.recent.clear()
        return JSONResponse({"ok": True})

    routes = [
        Route("/webhooks", receive, methods=["POST"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/receipts", receipts, methods=["GET"]),
        Route("/events", events, methods=["GET"]),
        Route("/", index, methods=["GET"]),
    ]
    if allow_reset:
        routes.append(Route("/_reset", reset, methods=["POST"]))
    return Starlette(routes=routes)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _status_page(
    stats: dict[str, int],
    latest: list[dict[str, Any]],
    rejected: list[tuple[float, int, str, str]],
) -> str:
    """A self-contained page (no scripts, no external assets) that reloads every 2 s.

    It shows event metadata only: ids, types, versions, times, never an event's body.
    """

    def cell(value: object) -> str:
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    counts = "".join(
        f'<div class="count"><b>{value}</b><span>{html.escape(name)}</span></div>'
        for name, value in stats.items()
    )
    event_rows = (
        "".join(
            "<tr>"
            + cell(_when(e["first_received_at"]))
            + cell(e["type"])
            + cell(e["order_id"])
            + cell(e["platform_order_id"])
            + cell(e["version"])
            + cell(e["shop_id"])
            + cell(e["event_id"])
            + "</tr>"
            for e in latest
        )
        or '<tr><td colspan="7">No events yet.</td></tr>'
    )
    rejection_rows = "".join(
        "<tr>" + cell(_when(ts)) + cell(status) + cell(reason) + cell(wid) + "</tr>"
        for ts, status, reason, wid in rejected
    )
    rejection_table = (
        "<h2>Recent rejections</h2><table><tr><th>time</th><th>status</th><th>reason</th>"
        f"<th>webhook-id</th></tr>{rejection_rows}</table>"
        if rejected
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>ShopBridge sample ERP receiver</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
.counts {{ display: flex; gap: 1em; margin: 1em 0; }}
.count {{ border: 1px solid #ccc; border-radius: 6px; padding: .5em 1em; min-width: 7em; }}
.count b {{ display: block; font-size: 1.6em; }}
.count span {{ color: #666; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
th, td {{ border-bottom: 1px solid #eee; padding: .3em .8em; text-align: left; }}
td {{ font-family: ui-monospace, monospace; font-size: 13px; }}
</style></head>
<body>
<h1>ShopBridge sample ERP receiver</h1>
<p>Webhooks are accepted at <code>POST /webhooks</code>. This page reloads every 2 seconds.</p>
<div class="counts">{counts}</div>
<h2>Last 50 events</h2>
<table><tr><th>first received</th><th>type</th><th>order</th><th>platform order</th>
<th>version</th><th>shop</th><th>event id</th></tr>{event_rows}</table>
{rejection_table}
</body></html>
"""
