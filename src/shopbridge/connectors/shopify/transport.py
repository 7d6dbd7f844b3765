"""Shopify Admin REST on the wire: URLs, auth header, error classification, pagination.

- Requests go to `https://{shop}.myshopify.com/admin/api/{version}/{resource}.json`, or to
  `{ShopContext.base_url}/admin/api/{version}/...` when the shop has an endpoint override (the
  sandbox, a recording proxy). The access token travels in `X-Shopify-Access-Token`.
- Every response is classified here, once: 401 -> `AuthExpired`; 403 (missing access scope or
  protected-data approval) -> `Rejected`; 404 -> `NotFound`; 429 -> `RateLimited` with the
  `Retry-After` seconds; 422 and other 4xx -> `Rejected` with the reason from `errors`;
  402 (shop frozen) and 423 (shop locked) -> `Rejected`; 501 -> `Rejected`; other 5xx ->
  `Unavailable`. A 2xx body that is not JSON -> `Unavailable` (a proxy or maintenance page;
  retry), JSON of the wrong shape -> `MappingError`.
- `X-Shopify-Shop-Api-Call-Limit: used/size` keeps the local token bucket from believing it
  has more quota than Shopify says (after a restart, or while a second process shares the
  shop); `X-Shopify-API-Deprecated-Reason` and a served version other than the requested one
  are logged once each.
- REST pages are linked with `Link: <url>; rel="next"`; the opaque `page_info` of the next
  link is the page token handed to the sync engine.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx

from shopbridge.connectors.base import RateLimit, ShopContext
from shopbridge.connectors.errors import (
    AuthExpired,
    ConnectorError,
    MappingError,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from shopbridge.connectors.transport import CallObserver, Transport
from shopbridge.logging import get_logger

__all__ = [
    "DEFAULT_API_VERSION",
    "ShopifyApi",
    "api_base_url",
    "classify_response",
    "error_reason",
    "next_page_info",
    "parse_call_limit",
    "parse_link_header",
    "parse_retry_after",
    "shop_host",
]

PLATFORM: Final = "shopify"
DEFAULT_API_VERSION: Final = "2026-07"
"""The newest stable version with a published REST Admin reference (REST is "legacy" since
2024-10; Shopify keeps serving it per version). Override per shop with
`settings["api_version"]`."""

ACCESS_TOKEN_HEADER: Final = "X-Shopify-Access-Token"  # noqa: S105 - a header name
CALL_LIMIT_HEADER: Final = "X-Shopify-Shop-Api-Call-Limit"
DEPRECATED_HEADER: Final = "X-Shopify-API-Deprecated-Reason"
VERSION_HEADER: Final = "X-Shopify-API-Version"
DEFAULT_RETRY_AFTER: Final = 1.0
"""Seconds to wait on a 429 without a usable `Retry-After` (Shopify's own clients use 1 s)."""
MAX_REASON_LENGTH: Final = 500

_VERSION: Final = re.compile(r"^(?:\d{4}-(?:01|04|07|10)|unstable)$")
_HANDLE: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LINK_PART: Final = re.compile(r"<([^<>]*)>\s*((?:;\s*[^;,]*)*)")
_REL: Final = re.compile(r'rel\s*=\s*"?([^";,]+)"?', re.IGNORECASE)

log = get_logger(__name__)


def _config_error(reason: str) -> Rejected:
    return Rejected(reason, reason=reason, platform=PLATFORM, code="configuration")


def shop_host(shop: ShopContext) -> str:
    """`{handle}.myshopify.com` from `settings["shop_domain"]` or `platform_shop_id`, which
    may be the handle (`acme`), the domain, or a URL of the domain."""
    raw = str(shop.settings.get("shop_domain") or shop.platform_shop_id).strip().lower()
    if "://" in raw:
        raw = urlsplit(raw).hostname or ""
    raw = raw.rstrip("/")
    handle = raw.removesuffix(".myshopify.com")
    if not _HANDLE.fullmatch(handle):
        raise _config_error(
            "platform_shop_id must be the shop's myshopify handle or domain "
            "(acme or acme.myshopify.com)"
        )
    return f"{handle}.myshopify.com"


def api_version(shop: ShopContext) -> str:
    version = str(shop.settings.get("api_version") or DEFAULT_API_VERSION)
    if not _VERSION.fullmatch(version):
        raise _config_error(f"api_version {version!r} is not a Shopify version (YYYY-MM)")
    return version


def api_base_url(shop: ShopContext, version: str) -> str:
    """`.../admin/api/{version}` for the shop, honouring `ShopContext.base_url`."""
    if shop.base_url:
        return f"{shop.base_url.rstrip('/')}/admin/api/{version}"
    return f"https://{shop_host(shop)}/admin/api/{version}"


def parse_link_header(value: str | None) -> dict[str, str]:
    """`<url>; rel="next", <url>; rel="previous"` -> `{"next": url, "previous": url}`."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK_PART.finditer(value):
        url, params = match.group(1).strip(), match.group(2)
        rel = _REL.search(params)
        if rel and url:
            for name in rel.group(1).split():
                links.setdefault(name.lower(), url)
    return links


def next_page_info(response: httpx.Response) -> str | None:
    """The `page_info` token of the `rel="next"` link, or None on the last page."""
    url = parse_link_header(response.headers.get("link")).get("next")
    if url is None:
        return None
    values = parse_qs(urlsplit(url).query).get("page_info")
    return values[0] if values and values[0] else None


def parse_call_limit(value: str | None) -> tuple[int, int] | None:
    """`"32/40"` -> (32, 40); None when absent or malformed."""
    if not value:
        return None
    used, sep, size = value.strip().partition("/")
    if not sep or not used.strip().isdigit() or not size.strip().isdigit():
        return None
    return int(used), int(size)


def parse_retry_after(value: str | None) -> float:
    """`Retry-After` seconds (Shopify writes `2.0`); a default when absent or unusable."""
    if value is None:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value.strip())
    except ValueError:
        return DEFAULT_RETRY_AFTER
    if not math.isfinite(seconds) or seconds < 0:
        return DEFAULT_RETRY_AFTER
    return seconds


def _flatten_errors(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(_flatten_errors(item) for item in errors)
    if isinstance(errors, dict):
        parts = []
        for field, messages in errors.items():
            text = _flatten_errors(messages)
            parts.append(text if field == "base" else f"{field}: {text}")
        return "; ".join(parts)
    return json.dumps(errors)


def error_reason(response: httpx.Response) -> str:
    """Shopify's own words for a failed call: the `errors` member (a string, a list, or an
    object of field -> messages), or the OAuth-style `error_description`; else the status."""
    reason = ""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        if body.get("errors") is not None:
            reason = _flatten_errors(body["errors"])
        elif isinstance(body.get("error_description"), str):
            reason = body["error_description"]
        elif isinstance(body.get("error"), str):
            reason = body["error"]
    reason = " ".join(reason.split())
    if not reason:
        reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return reason[:MAX_REASON_LENGTH]


def classify_response(response: httpx.Response) -> ConnectorError | None:
    """Map one Shopify response to a unified error (None for success)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    reason = error_reason(response)
    meta: dict[str, str | None] = {
        "platform": PLATFORM,
        "code": str(status),
        "platform_message": reason,
    }
    if status == 401:
        return AuthExpired(f"access token rejected: {reason}", **meta)
    if status == 403:
        why = f"forbidden (missing access scope or protected customer data approval): {reason}"
        return Rejected(why, reason=why, **meta)
    if status == 404:
        return NotFound(f"not found: {reason}", **meta)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(f"rate limited: {reason}", retry_after=retry_after, **meta)
    if status == 402:
        why = f"shop is frozen (payment required): {reason}"
        return Rejected(why, reason=why, **meta)
    if status == 423:
        why = f"shop is locked: {reason}"
        return Rejected(why, reason=why, **meta)
    if status == 501:
        why = f"not available on this shop: {reason}"
        return Rejected(why, reason=why, **meta)
    if status >= 500:
        return Unavailable(f"platform error: {reason}", **meta)
    if 300 <= status < 400:
        why = f"unexpected redirect (HTTP {status})"
        return Rejected(why, reason=why, **meta)
    return Rejected(reason, reason=reason, **meta)


class ShopifyApi:
    """The one place that does Shopify I/O for a connector: builds, sends and reads calls."""

    def __init__(
        self,
        shop: ShopContext,
        *,
        rate_limit: RateLimit,
        client: httpx.AsyncClient | None = None,
        observer: CallObserver | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.shop = shop
        self.api_version = api_version(shop)
        self.base_url = api_base_url(shop, self.api_version)
        self.transport = Transport(
            PLATFORM, rate_limit, client=client, timeout=timeout, observer=observer
        )
        self.call_limit: tuple[int, int] | None = None
        """Last `X-Shopify-Shop-Api-Call-Limit` seen: (used, bucket size)."""
        self.notices: set[str] = set()
        """Deprecation / version notices already logged."""

    def _token(self) -> str:
        token = self.shop.credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise AuthExpired(
                "the shop has no access_token credential", platform=PLATFORM, code="no_token"
            )
        return token.strip()

    def _classify(self, response: httpx.Response) -> ConnectorError | None:
        self._observe(response)
        return classify_response(response)

    def _observe(self, response: httpx.Response) -> None:
        limit = parse_call_limit(response.headers.get(CALL_LIMIT_HEADER))
        if limit is not None:
            self.call_limit = limit
            used, size = limit
            bucket = self.transport.bucket
            bucket.tokens = min(bucket.tokens, float(max(size - used, 0)))
        reason = response.headers.get(DEPRECATED_HEADER)
        if reason:
            self._notice(f"deprecated: {reason}")
        served = response.headers.get(VERSION_HEADER)
        if served and served != self.api_version:
            self._notice(f"requested API version {self.api_version}, served {served}")

    def _notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.add(text)
            log.warning("shopify.api_notice", shop_id=self.shop.shop_id, notice=text)

    async def request(
        self,
        method: str,
        path: str,
        *,
        interface: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], httpx.Response]:
        """Send one call and return its JSON object body and the response."""
        headers = {ACCESS_TOKEN_HEADER: self._token(), "Accept": "application/json"}
        request = self.transport.client.build_request(
            method, f"{self.base_url}/{path}", params=params, json=body, headers=headers
        )
        response = await self.transport.send(interface, request, self._classify)
        return self._json(response, interface), response

    async def get(
        self, path: str, *, interface: str, params: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], httpx.Response]:
        return await self.request("GET", path, interface=interface, params=params)

    async def post(self, path: str, *, interface: str, body: dict[str, Any]) -> dict[str, Any]:
        data, _ = await self.request("POST", path, interface=interface, body=body)
        return data

    @staticmethod
    def _json(response: httpx.Response, interface: str) -> dict[str, Any]:
        try:
            body = json.loads(response.content) if response.content.strip() else {}
        except ValueError as exc:
            raise Unavailable(
                "the platform answered with a body that is not JSON",
                platform=PLATFORM,
                interface=interface,
                code="bad_json",
            ) from exc
        if not isinstance(body, dict):
            raise MappingError(
                "$: response body is not a JSON object",
                path="$",
                platform=PLATFORM,
                interface=interface,
            )
        return body

    async def aclose(self) -> None:
        await self.transport.aclose()
