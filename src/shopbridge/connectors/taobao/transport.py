"""Taobao Open Platform (TOP) on the wire: gateway, system parameters, signing, envelopes and
error classification. The only module of the connector that does I/O.

- Every call is `POST {gateway}` with a form-encoded body holding the system parameters
  (`method`, `app_key`, `session`, `timestamp`, `format=json`, `v=2.0`, `sign_method`, `sign`)
  and the call's business parameters side by side. The gateway is
  `https://eco.taobao.com/router/rest`, or `{ShopContext.base_url}/router/rest` when the shop
  has an endpoint override (a sandbox, a regional gateway, a recording proxy). Official SDKs
  put the system parameters in the query string; TOP merges query and body before checking
  the signature, and a body keeps the session key out of proxy access logs.
- `sign` is the uppercase hex digest of the parameters (all but `sign`) sorted by name and
  concatenated as `name1value1name2value2...`: `md5` = MD5(secret + text + secret), `hmac` =
  HMAC-MD5(secret, text), `hmac-sha256` = HMAC-SHA256(secret, text). Empty values are never
  sent, so the Java rule (skip empties) and the Python SDK rule (sign them) agree.
- `timestamp` is the wall clock of Asia/Shanghai, `yyyy-MM-dd HH:mm:ss`; TOP refuses requests
  more than 10 minutes off.
- Success is `{"<method without 'taobao.', dots as underscores>_response": {...}}`; a
  `simplify=true` style body without that root is accepted too. Errors come back with HTTP 200
  as `{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}` and are
  classified here, once (see `classify_error`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

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
from shopbridge.core import utcnow

__all__ = [
    "API_VERSION",
    "DEFAULT_GATEWAY",
    "DEFAULT_SIGN_METHOD",
    "PLATFORM",
    "SIGN_METHODS",
    "TopApi",
    "classify_error",
    "classify_response",
    "format_timestamp",
    "gateway_url",
    "parse_ban_seconds",
    "response_root",
    "sign_params",
    "signing_text",
]

PLATFORM: Final = "taobao"
API_VERSION: Final = "2.0"
DEFAULT_GATEWAY: Final = "https://eco.taobao.com/router/rest"
ROUTER_PATH: Final = "/router/rest"
SIGN_METHODS: Final = ("md5", "hmac", "hmac-sha256")
DEFAULT_SIGN_METHOD: Final = "hmac-sha256"
TOP_ZONE: Final = ZoneInfo("Asia/Shanghai")
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
CONTENT_TYPE: Final = "application/x-www-form-urlencoded;charset=utf-8"
MAX_REASON_LENGTH: Final = 500

RATE_LIMIT_CODES: Final = frozenset({"4", "5", "6", "7", "8"})
"""User, session, partner and app call limits (4-7) and the app frequency limit (8)."""
SESSION_CODES: Final = frozenset({"26", "27"})
"""Missing Session, Invalid Session."""
GATEWAY_REQUEST_CODES: Final = frozenset(
    {"9", "21", "22", "23", "24", "30", "32", "33", "34", "47"}
)
"""Malformed calls the connector itself would have to fix (method, format, version...)."""
PERMISSION_CODES: Final = frozenset({"11", "12", "13", "42", "53"})
PARAMETER_CODES: Final = frozenset({"40", "41", "43"})

DEFAULT_BAN_SECONDS: Final = 1.0
"""Wait for a frequency limit (code 8) that names no ban length."""
DEFAULT_QUOTA_BAN_SECONDS: Final = 5.0
"""Wait for a call limit (codes 4-7) that names no ban length: long enough not to hammer a
quota that is exhausted, short enough for a per-second limit."""

_BAN: Final = re.compile(
    r"(?:last\s+for\s+|剩余\s*)(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*(?:more\s+)?(?:seconds?|秒)",
    re.IGNORECASE,
)
_NOT_FOUND: Final = re.compile(r"not[-_]?exist|not[-_]?found", re.IGNORECASE)


def _config_error(reason: str) -> Rejected:
    return Rejected(reason, reason=reason, platform=PLATFORM, code="configuration")


def gateway_url(shop: ShopContext) -> str:
    """`{base_url}/router/rest` for a shop with an endpoint override, else the production
    gateway. A `base_url` that already ends in `/router/rest` is used as is."""
    if not shop.base_url:
        return DEFAULT_GATEWAY
    base = shop.base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise _config_error("base_url must be an http(s) URL")
    return base if base.endswith(ROUTER_PATH) else base + ROUTER_PATH


def sign_method_of(shop: ShopContext) -> str:
    method = shop.settings.get("sign_method", DEFAULT_SIGN_METHOD)
    if method not in SIGN_METHODS:
        raise _config_error(f"sign_method must be one of {', '.join(SIGN_METHODS)}")
    return str(method)


def format_timestamp(moment: datetime) -> str:
    """TOP's `yyyy-MM-dd HH:mm:ss`, the wall clock of Asia/Shanghai, for an aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: the timezone must be explicit")
    return moment.astimezone(TOP_ZONE).strftime(TIMESTAMP_FORMAT)


def signing_text(params: Mapping[str, str]) -> str:
    """`name1value1name2value2...` over every parameter but `sign`, names in byte order."""
    names = sorted((name for name in params if name != "sign"), key=lambda n: n.encode())
    return "".join(name + params[name] for name in names)


def sign_params(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    """The `sign` parameter for `params` (see the module docstring)."""
    text = signing_text(params).encode()
    key = secret.encode()
    if sign_method == "md5":
        digest = hashlib.md5(key + text + key, usedforsecurity=False).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(key, text, hashlib.md5).hexdigest()
    elif sign_method == "hmac-sha256":
        digest = hmac.new(key, text, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unsupported sign_method {sign_method!r}")
    return digest.upper()


def response_root(method: str) -> str:
    """`taobao.trade.fullinfo.get` -> `trade_fullinfo_get_response`."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def parse_ban_seconds(text: str | None) -> float | None:
    """Seconds from `This ban will last for 1 more seconds` (or a similar phrase); None when
    the text names none."""
    if not text:
        return None
    match = _BAN.search(text)
    if match is None:
        return None
    seconds = float(match.group(1) or match.group(2))
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return " ".join(text.split())[:MAX_REASON_LENGTH] or None


def classify_error(error: Mapping[str, Any], *, interface: str | None = None) -> ConnectorError:
    """Map one `error_response` to a unified error.

    | TOP | unified |
    |---|---|
    | code 4-8, sub_code `accesscontrol.*` | `RateLimited` (ban seconds from `sub_msg`) |
    | code 26/27, a `*session*` sub_code | `AuthExpired` |
    | code 25 | `Rejected`: the signature; check `app_secret` and `sign_method` |
    | code 28/29 | `Rejected`: the `app_key` |
    | code 31 | `Rejected`: this server's clock |
    | code 10, sub_code `isp.*`, code 15 without an `isv.*` sub_code | `Unavailable` |
    | sub_code `*not-exist*` / `*not-found*` (`isv.trade-not-exist`) | `NotFound` |
    | code 11/12/13/42/53 | `Rejected`: permission |
    | code 40/41/43, other `isv.*`, anything else | `Rejected(reason=sub_msg or msg)` |
    """
    code = _text(error.get("code")) or "?"
    msg = _text(error.get("msg"))
    sub_code = _text(error.get("sub_code"))
    sub_msg = _text(error.get("sub_msg"))
    said = "; ".join(part for part in (msg, sub_code, sub_msg) if part) or f"code {code}"
    meta: dict[str, str | None] = {
        "platform": PLATFORM,
        "interface": interface,
        "code": f"{code}/{sub_code}" if sub_code else code,
        "platform_message": said[:MAX_REASON_LENGTH],
    }
    words = sub_msg or msg or sub_code or f"code {code}"
    lowered = (sub_code or "").lower()

    if code in RATE_LIMIT_CODES or lowered.startswith("accesscontrol."):
        seconds = parse_ban_seconds(sub_msg) or parse_ban_seconds(msg)
        if seconds is None:
            seconds = DEFAULT_BAN_SECONDS if code == "8" else DEFAULT_QUOTA_BAN_SECONDS
        return RateLimited(f"call limit reached: {said}", retry_after=seconds, **meta)
    if code in SESSION_CODES or ("session" in lowered and code not in PARAMETER_CODES):
        return AuthExpired(
            "the shop's session key is missing, invalid or expired; "
            f"re-authorise the shop ({said})",
            **meta,
        )
    if code == "25":
        why = (
            "TOP refused the signature: check the app_secret credential and the sign_method setting"
        )
        return Rejected(why, reason=why, **meta)
    if code in {"28", "29"}:
        why = "TOP does not know the app_key: check the app_key credential"
        return Rejected(why, reason=why, **meta)
    if code == "31":
        why = "TOP refused the timestamp: check this server's clock (TOP allows 10 minutes)"
        return Rejected(why, reason=why, **meta)
    if code == "10" or lowered.startswith("isp."):
        return Unavailable(f"platform error: {said}", **meta)
    if _NOT_FOUND.search(lowered):
        return NotFound(f"not found: {words}", **meta)
    if code == "15" and not lowered.startswith("isv."):
        return Unavailable(f"remote service error: {said}", **meta)
    if code in PERMISSION_CODES:
        why = f"insufficient permission: {words}"
        return Rejected(why, reason=why, **meta)
    if code in GATEWAY_REQUEST_CODES:
        why = f"the gateway refused the request: {said}"
        return Rejected(why, reason=why, **meta)
    return Rejected(words, reason=words, **meta)


def _retry_after_header(value: str | None) -> float:
    try:
        seconds = float((value or "").strip())
    except ValueError:
        return DEFAULT_BAN_SECONDS
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_BAN_SECONDS


def decode_body(response: httpx.Response) -> Any:
    """The JSON body; `Unavailable(code="bad_json")` when it is not JSON (a proxy or
    maintenance page, or an XML answer)."""
    try:
        return json.loads(response.content)
    except ValueError as exc:
        raise Unavailable(
            "the platform answered with a body that is not JSON",
            platform=PLATFORM,
            code="bad_json",
        ) from exc


def classify_response(response: httpx.Response) -> ConnectorError | None:
    """One TOP answer -> a unified error, or None for success."""
    status = response.status_code
    meta: dict[str, str | None] = {"platform": PLATFORM, "code": f"http_{status}"}
    if status == 429:
        seconds = _retry_after_header(response.headers.get("retry-after"))
        return RateLimited(f"HTTP {status}", retry_after=seconds, **meta)
    if status >= 500 or status == 408:
        return Unavailable(f"platform error: HTTP {status}", **meta)
    if not 200 <= status < 300:
        why = f"the gateway answered HTTP {status}; check base_url"
        return Rejected(why, reason=why, **meta)
    try:
        body = decode_body(response)
    except Unavailable as exc:
        return exc
    if not isinstance(body, dict):
        return MappingError("$: response body is not a JSON object", path="$", platform=PLATFORM)
    error = body.get("error_response")
    if error is None:
        return None
    if not isinstance(error, dict):
        return MappingError(
            "$.error_response: not a JSON object", path="$.error_response", platform=PLATFORM
        )
    return classify_error(error)


class TopApi:
    """Builds, signs, sends and unwraps TOP calls for one shop."""

    def __init__(
        self,
        shop: ShopContext,
        *,
        rate_limit: RateLimit,
        client: httpx.AsyncClient | None = None,
        observer: CallObserver | None = None,
        timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.shop = shop
        self.url = gateway_url(shop)
        self.sign_method = sign_method_of(shop)
        self.clock = clock
        self.transport = Transport(
            PLATFORM, rate_limit, client=client, timeout=timeout, observer=observer
        )

    def _credential(self, name: str) -> str:
        value = self.shop.credentials.get(name)
        if not isinstance(value, str) or not value.strip():
            raise AuthExpired(
                f"the shop has no {name} credential", platform=PLATFORM, code="no_credentials"
            )
        return value.strip()

    def signed_params(
        self, method: str, params: Mapping[str, str | None], *, session: bool = True
    ) -> dict[str, str]:
        """System + business parameters with `sign`; None and empty values are left out."""
        system = {
            "method": method,
            "app_key": self._credential("app_key"),
            "timestamp": format_timestamp(self.clock()),
            "format": "json",
            "v": API_VERSION,
            "sign_method": self.sign_method,
        }
        if session:
            system["session"] = self._credential("session")
        secret = self._credential("app_secret")
        merged = dict(system)
        for name, value in params.items():
            if name in system or name == "sign":
                raise ValueError(f"business parameter {name!r} clashes with a system parameter")
            if value is not None and value != "":
                merged[name] = value
        merged["sign"] = sign_params(merged, secret, self.sign_method)
        return merged

    async def call(
        self, method: str, params: Mapping[str, str | None], *, session: bool = True
    ) -> dict[str, Any]:
        """Send one call; returns the object under the `<method>_response` root (or the whole
        body when the gateway answered without it)."""
        body = urlencode(self.signed_params(method, params, session=session)).encode()
        request = self.transport.client.build_request(
            "POST",
            self.url,
            content=body,
            headers={"Content-Type": CONTENT_TYPE, "Accept": "application/json"},
        )
        response = await self.transport.send(method, request, classify_response)
        try:
            data = decode_body(response)
        except Unavailable as exc:
            exc.interface = method
            raise
        root = response_root(method)
        if not isinstance(data, dict):
            raise MappingError(
                "$: response body is not a JSON object",
                path="$",
                platform=PLATFORM,
                interface=method,
            )
        if root in data:
            inner = data[root]
            if not isinstance(inner, dict):
                raise MappingError(
                    f"$.{root}: not a JSON object",
                    path=f"$.{root}",
                    platform=PLATFORM,
                    interface=method,
                )
            return inner
        return data

    async def aclose(self) -> None:
        await self.transport.aclose()
