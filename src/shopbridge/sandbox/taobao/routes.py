"""The TOP gateway (``/router/rest``): request pipeline and API handlers.

Every call goes through the same pipeline, in this order:

1. parameters: query string merged with the form body (``x-www-form-urlencoded`` or
   ``multipart/form-data``; file parts are neither parameters nor signed); a name in both
   keeps the query-string value;
2. HTTP method (GET/POST, else code 9), ``format`` (json/xml, else 23), ``method``
   (missing 21);
3. fault injection (``/_sandbox/faults``, matched against the API name);
4. ``app_key`` (missing 28), ``timestamp`` (missing 30; ``yyyy-MM-dd HH:mm:ss`` GMT+8 or
   epoch milliseconds; more than ``timestamp_tolerance_seconds`` off: 31), ``v`` (missing
   32, not 2.0: 34), ``sign`` (missing 24), ``sign_method`` (md5 when absent; unknown: 41),
   app key known (29), signature (25), API known (22);
5. the app's call limit (code 7, "This ban will last for N more seconds");
6. ``session`` (missing where the API needs a seller: 26; unknown: 27 invalid-sessionkey;
   expired: 27 session-expired) and API permission (11);
7. the handler: missing/invalid business parameters (40/41), business errors (15 with an
   ``isv.*`` sub-code).

Responses are HTTP 200 with ``text/javascript;charset=UTF-8`` (JSON) or ``text/xml`` bodies.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from shopbridge.sandbox.common.clock import Clock
from shopbridge.sandbox.common.faults import FaultInjector, FaultKind
from shopbridge.sandbox.common.ratelimit import WindowLimiter
from shopbridge.sandbox.taobao.envelope import (
    JSON,
    Fields,
    ListOf,
    RenderContext,
    TopError,
    app_call_limited,
    dump,
    error_xml,
    fmt_time,
    http_action_not_allowed,
    insufficient_isv_permissions,
    invalid_app_key,
    invalid_argument,
    invalid_format,
    invalid_method,
    invalid_session,
    invalid_signature,
    invalid_timestamp,
    missing_app_key,
    missing_argument,
    missing_method,
    missing_session,
    missing_signature,
    missing_timestamp,
    missing_version,
    new_request_id,
    remote_service_error,
    render_carrier,
    render_item,
    render_refund,
    render_sku,
    render_trade,
    session_expired,
    success_json,
    success_xml,
    unsupported_version,
)
from shopbridge.sandbox.taobao.options import EMITTED_TOPICS, TaobaoSandboxOptions
from shopbridge.sandbox.taobao.privacy import DECRYPT_PARAM, WAYBILL_PARAM, PrivacyDesk
from shopbridge.sandbox.taobao.push import TmcQueue, TmcSubscription
from shopbridge.sandbox.taobao.signing import SIGN_METHODS, SignMethod, verify_signature
from shopbridge.sandbox.taobao.state import (
    CARRIERS,
    DEFAULT_QUERY_TYPES,
    PSEUDO_STATUSES,
    REFUND_STATUSES,
    TRADE_STATUSES,
    TRADE_TYPES,
    TYPE_ALIASES,
    Item,
    Refund,
    Sku,
    StateError,
    TaobaoState,
    Trade,
)

logger = logging.getLogger("shopbridge.sandbox.taobao")

GATEWAY_PATHS: tuple[str, ...] = ("/router/rest", "/top/router/rest")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_THREE_MONTHS = timedelta(days=90)


# ---------------------------------------------------------------------------------------
# sessions, call log


class SessionRegistry:
    """The seller's session key: valid, expired (27 session-expired) or rotated."""

    def __init__(self, token: str) -> None:
        self._lock = threading.Lock()
        self.current = token
        self.expired = False

    def check(self, token: str) -> TopError | None:
        with self._lock:
            if not hmac.compare_digest(token.encode(), self.current.encode()):
                return invalid_session()
            if self.expired:
                return session_expired()
            return None

    def expire(self) -> None:
        with self._lock:
            self.expired = True

    def rotate(self, token: str) -> None:
        with self._lock:
            self.current = token
            self.expired = False

    def restore(self, token: str) -> None:
        self.rotate(token)


@dataclass
class CallRecord:
    """One gateway call, as the control API shows it (no parameters: they may hold
    buyer data)."""

    at: datetime
    api: str | None
    http_method: str
    code: int | None
    sub_code: str | None
    request_id: str
    sign_method: str | None
    format: str

    def to_dict(self, zone: Any) -> JSON:
        return {
            "at": fmt_time(self.at, zone),
            "api": self.api,
            "http_method": self.http_method,
            "ok": self.code is None,
            "code": self.code,
            "sub_code": self.sub_code,
            "request_id": self.request_id,
            "sign_method": self.sign_method,
            "format": self.format,
        }


# ---------------------------------------------------------------------------------------
# API calls


@dataclass
class ApiCall:
    api: str
    params: dict[str, str]
    now: datetime
    session: str | None
    ctx: RenderContext

    # parameter helpers -----------------------------------------------------------------

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else None

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None:
            raise missing_argument(name)
        return value

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> int | None:
        raw = self.required(name) if required else self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise invalid_argument(name) from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise invalid_argument(name)
        return value

    def need_int(self, name: str, **kwargs: Any) -> int:
        value = self.integer(name, required=True, **kwargs)
        assert value is not None
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise invalid_argument(name)

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        raw = self.required(name) if required else self.text(name)
        if raw is None:
            return None
        raw = raw.strip()
        if not _TIME_RE.match(raw):
            raise invalid_argument(name, f"时间格式错误, 应为yyyy-MM-dd HH:mm:ss: {raw}")
        try:
            naive = datetime.strptime(raw, _TIME_FORMAT)
        except ValueError:
            raise invalid_argument(name, f"时间格式错误: {raw}") from None
        return naive.replace(tzinfo=self.ctx.zone).astimezone(UTC)

    def fields(self) -> Fields:
        return Fields.parse(self.required("fields"))

    def id_list(self, name: str, *, limit: int) -> list[int]:
        raw = self.text(name)
        if raw is None:
            return []
        ids: list[int] = []
        for part in raw.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                ids.append(int(part))
            except ValueError:
                raise invalid_argument(name) from None
        if len(ids) > limit:
            raise invalid_argument(name, f"最多{limit}个")
        return ids


Handler = Callable[[ApiCall], JSON]


@dataclass(frozen=True)
class ApiSpec:
    handler: Handler
    needs_session: bool = True


@dataclass
class Page:
    no: int
    size: int
    use_has_next: bool

    def apply(self, rows: list[Any]) -> tuple[list[Any], JSON]:
        start = (self.no - 1) * self.size
        chunk = rows[start : start + self.size]
        meta: JSON = (
            {"has_next": start + self.size < len(rows)}
            if self.use_has_next
            else {"total_results": len(rows)}
        )
        return chunk, meta


ONSALE_ITEM_FIELDS: frozenset[str] = frozenset(
    [
        "approve_status",
        "num_iid",
        "title",
        "nick",
        "type",
        "cid",
        "pic_url",
        "num",
        "props",
        "valid_thru",
        "list_time",
        "price",
        "has_discount",
        "has_invoice",
        "has_warranty",
        "has_showcase",
        "modified",
        "delist_time",
        "postage_id",
        "seller_cids",
        "outer_id",
        "sold_quantity",
    ]
)
"""The `fields` `taobao.items.onsale.get` documents; others are not returned."""


def _page(call: ApiCall, *, default: int = 40, maximum: int = 100) -> Page:
    return Page(
        no=call.need_int("page_no", low=1) if call.text("page_no") else 1,
        size=call.need_int("page_size", low=1, high=maximum) if call.text("page_size") else default,
        use_has_next=call.boolean("use_has_next"),
    )


def _list(element: str, rows: list[Any]) -> ListOf | None:
    """Empty lists are left out of TOP responses entirely."""
    return ListOf(element, rows) if rows else None


# ---------------------------------------------------------------------------------------
# the gateway


class TaobaoGateway:
    """Pipeline and handlers of ``/router/rest`` for one sandbox shop."""

    def __init__(
        self,
        state: TaobaoState,
        *,
        options: TaobaoSandboxOptions,
        clock: Clock,
        faults: FaultInjector,
        limiter: WindowLimiter,
        sessions: SessionRegistry,
        tmc: TmcQueue,
        subscription: TmcSubscription,
        denied_apis: set[str],
        calls: deque[CallRecord],
        privacy: PrivacyDesk | None = None,
    ) -> None:
        self.state = state
        self.privacy = privacy or PrivacyDesk(state, options)
        self.options = options
        self.clock = clock
        self.faults = faults
        self.limiter = limiter
        self.sessions = sessions
        self.tmc = tmc
        self.subscription = subscription
        self.denied_apis = denied_apis
        self.calls = calls
        self.ctx = RenderContext(options.zone, options.seller_nick, options.seller_nick)
        self.apis: dict[str, ApiSpec] = {
            "taobao.time.get": ApiSpec(self.time_get, needs_session=False),
            "taobao.trades.sold.increment.get": ApiSpec(self.trades_sold_increment_get),
            "taobao.trades.sold.get": ApiSpec(self.trades_sold_get),
            "taobao.trade.fullinfo.get": ApiSpec(self.trade_fullinfo_get),
            "taobao.trade.memo.update": ApiSpec(self.trade_memo_update),
            "taobao.trade.memo.add": ApiSpec(self.trade_memo_add),
            "taobao.logistics.offline.send": ApiSpec(self.logistics_offline_send),
            "taobao.logistics.online.send": ApiSpec(self.logistics_online_send),
            "taobao.logistics.online.confirm": ApiSpec(self.logistics_online_confirm),
            "taobao.logistics.dummy.send": ApiSpec(self.logistics_dummy_send),
            "taobao.logistics.companies.get": ApiSpec(
                self.logistics_companies_get, needs_session=False
            ),
            "taobao.item.quantity.update": ApiSpec(self.item_quantity_update),
            "taobao.skus.quantity.update": ApiSpec(self.skus_quantity_update),
            "taobao.items.onsale.get": ApiSpec(self.items_onsale_get),
            "taobao.item.seller.get": ApiSpec(self.item_seller_get),
            "taobao.item.skus.get": ApiSpec(self.item_skus_get),
            "taobao.refunds.receive.get": ApiSpec(self.refunds_receive_get),
            "taobao.refund.get": ApiSpec(self.refund_get),
            "taobao.refund.refuse": ApiSpec(self.refund_refuse),
            "taobao.tmc.user.permit": ApiSpec(self.tmc_user_permit),
            "taobao.tmc.user.cancel": ApiSpec(self.tmc_user_cancel, needs_session=False),
            "taobao.tmc.user.get": ApiSpec(self.tmc_user_get, needs_session=False),
            "taobao.tmc.messages.consume": ApiSpec(self.tmc_messages_consume, needs_session=False),
            "taobao.tmc.messages.confirm": ApiSpec(self.tmc_messages_confirm, needs_session=False),
            "cainiao.waybill.ii.get": ApiSpec(self.cainiao_waybill_ii_get),
            "taobao.top.oaid.decrypt": ApiSpec(self.top_oaid_decrypt),
        }

    # pipeline -----------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, str]:
        params: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            params.setdefault(key, value)
        if request.method != "POST":
            return params
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            header = request.headers.get("content-type", "")
            for key, part in _multipart_fields(header, await request.body()):
                params.setdefault(key, part)
        elif content_type.startswith("application/x-www-form-urlencoded") or not content_type:
            body = await request.body()
            if body:
                text = body.decode("utf-8", errors="replace")
                for key, value in parse_qsl(text, keep_blank_values=True):
                    params.setdefault(key, value)
        return params

    async def handle(self, request: Request) -> Response:
        request_id = new_request_id()
        http_method = request.method.upper()
        params = await self._params(request)
        requested_format = params.get("format") or self.options.default_format
        fmt = requested_format if requested_format in ("json", "xml") else "json"
        simplify = fmt == "json" and params.get("simplify", "").strip().lower() == "true"
        api = params.get("method") or None
        sign_method = params.get("sign_method") or None
        error: TopError | None = None
        body: JSON | None = None
        try:
            if http_method not in ("GET", "POST"):
                raise http_action_not_allowed()
            if requested_format not in ("json", "xml"):
                raise invalid_format()
            if api is None:
                raise missing_method()
            fault = self.faults.take(http_method, api)
            if fault is not None:
                await self._apply_fault(fault.kind, fault.status, fault.seconds, fault.detail)
            self._check_protocol(params)
            spec = self.apis.get(api)
            if spec is None:
                raise invalid_method()
            decision = self.limiter.acquire(params["app_key"])
            if not decision.allowed:
                raise app_call_limited(decision.ban_seconds_left_whole)
            session = params.get("session") or params.get("access_token") or None
            if session is not None:
                problem = self.sessions.check(session)
                if problem is not None:
                    raise problem
            elif spec.needs_session:
                raise missing_session()
            if api in self.denied_apis:
                raise insufficient_isv_permissions(api)
            call = ApiCall(api, params, self.clock.now(), session, self.ctx)
            with self.state.lock:
                body = spec.handler(call)
        except TopError as exc:
            error = exc
        except StateError as exc:
            error = TopError.from_state(exc)
        except Exception:  # a sandbox bug must still look like a TOP server error
            logger.exception("unhandled error in %s", api)
            error = remote_service_error("isp.top-remote-unknown-error")
        self.calls.append(
            CallRecord(
                at=self.clock.now(),
                api=api,
                http_method=http_method,
                code=error.code if error else None,
                sub_code=error.sub_code if error else None,
                request_id=request_id,
                sign_method=sign_method,
                format=fmt,
            )
        )
        if error is not None and error.http_status != 200:
            return Response(
                _http_error_page(error.http_status),
                status_code=error.http_status,
                media_type="text/html",
            )
        if fmt == "xml":
            content = (
                error_xml(error, request_id)
                if error is not None
                else success_xml(api or "", body or {}, request_id)
            )
            return Response(content, media_type="text/xml;charset=UTF-8")
        payload = (
            error.body(request_id)
            if error is not None
            else success_json(api or "", body or {}, request_id, simplify=simplify)
        )
        return Response(dump(payload), media_type="text/javascript;charset=UTF-8")

    async def _apply_fault(
        self, kind: FaultKind, status: int | None, seconds: float, detail: str | None
    ) -> None:
        if kind == FaultKind.HANG:
            await asyncio.sleep(seconds)
            if status is not None:
                raise self._fault_error(status, detail)
            return
        if kind == FaultKind.ERROR:
            raise self._fault_error(status, detail)
        if kind == FaultKind.RATE_LIMIT:
            raise app_call_limited(max(1, int(seconds + 0.999)) if seconds else 1)
        raise session_expired()

    @staticmethod
    def _fault_error(status: int | None, detail: str | None) -> TopError:
        if status is not None and status >= 500:
            return TopError(15, "Remote service error", http_status=status)
        return remote_service_error(detail or "isp.top-remote-connection-error")

    def _check_protocol(self, params: dict[str, str]) -> None:
        options = self.options
        app_key = params.get("app_key")
        if not app_key:
            raise missing_app_key()
        timestamp = params.get("timestamp")
        if not timestamp:
            raise missing_timestamp()
        self._check_timestamp(timestamp)
        version = params.get("v")
        if not version:
            raise missing_version()
        if version.strip() != "2.0":
            raise unsupported_version()
        if not params.get("sign"):
            raise missing_signature()
        method_name = params.get("sign_method") or "md5"
        if method_name not in SIGN_METHODS:
            raise invalid_argument("sign_method")
        if app_key != options.app_key:
            raise invalid_app_key()
        sign_method: SignMethod = method_name
        if not verify_signature(params, options.app_secret, sign_method):
            raise invalid_signature()

    def _check_timestamp(self, raw: str) -> None:
        text = raw.strip()
        try:
            if text.isdigit():
                number = int(text)
                seconds = number / 1000 if number > 10**11 else float(number)
                moment = datetime.fromtimestamp(seconds, UTC)
            else:
                naive = datetime.strptime(text, _TIME_FORMAT)
                moment = naive.replace(tzinfo=self.options.zone)
        except (ValueError, OverflowError, OSError):
            raise invalid_timestamp(f"时间戳格式错误: {text}") from None
        skew = abs((self.clock.now() - moment).total_seconds())
        if skew > self.options.timestamp_tolerance_seconds:
            raise invalid_timestamp(
                "时间戳错误, 与服务器时间(GMT+8)相差超过"
                f"{int(self.options.timestamp_tolerance_seconds // 60)}分钟"
            )

    # trades -------------------------------------------------------------------------

    def _status_filter(self, call: ApiCall) -> frozenset[str] | None:
        status = call.text("status")
        if status is None:
            return None
        if status in PSEUDO_STATUSES:
            return PSEUDO_STATUSES[status]
        if status not in TRADE_STATUSES:
            raise invalid_argument("status")
        return frozenset((status,))

    @staticmethod
    def _type_filter(call: ApiCall) -> frozenset[str]:
        raw = call.text("type") or DEFAULT_QUERY_TYPES
        types: set[str] = set()
        for part in raw.split(","):
            name = part.strip()
            if not name:
                continue
            types |= TYPE_ALIASES.get(name, frozenset((name,)))
        return frozenset(types)

    def _trade_rows(
        self,
        call: ApiCall,
        trades: list[Trade],
        key: Callable[[Trade], datetime],
    ) -> JSON:
        fields = call.fields()
        page = _page(call)
        trades.sort(key=lambda t: (key(t), t.tid), reverse=True)
        chunk, meta = page.apply(trades)
        rows = [render_trade(t, self.ctx, fields) for t in chunk]
        return {**meta, "trades": _list("trade", rows)}

    def trades_sold_increment_get(self, call: ApiCall) -> JSON:
        call.fields()
        start = call.time("start_modified", required=True)
        end = call.time("end_modified", required=True)
        assert start is not None
        assert end is not None
        if end <= start:
            raise invalid_argument("end_modified", "end_modified必须大于start_modified")
        if end - start > timedelta(days=1):
            raise invalid_argument("end_modified", "修改时间跨度不能大于一天")
        statuses = self._status_filter(call)
        types = self._type_filter(call)
        buyer_open_uid = call.text("buyer_open_uid")
        oldest = call.now - _THREE_MONTHS
        rows = [
            t
            for t in self.state.trades.values()
            if start <= t.modified <= end
            and t.created >= oldest
            and (statuses is None or t.status in statuses)
            and t.type in types
            and (buyer_open_uid is None or t.buyer.open_uid == buyer_open_uid)
        ]
        return self._trade_rows(call, rows, lambda t: t.modified)

    def trades_sold_get(self, call: ApiCall) -> JSON:
        call.fields()
        oldest = call.now - _THREE_MONTHS
        start = call.time("start_created") or oldest
        end = call.time("end_created") or call.now + timedelta(days=1)
        if end < start:
            raise invalid_argument("end_created", "end_created必须大于start_created")
        statuses = self._status_filter(call)
        types = self._type_filter(call)
        buyer_open_uid = call.text("buyer_open_uid")
        start = max(start, oldest)
        rows = [
            t
            for t in self.state.trades.values()
            if start <= t.created <= end
            and (statuses is None or t.status in statuses)
            and t.type in types
            and (buyer_open_uid is None or t.buyer.open_uid == buyer_open_uid)
        ]
        return self._trade_rows(call, rows, lambda t: t.created)

    def trade_fullinfo_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        tid = call.need_int("tid", low=1)
        trade = self.state.trade(tid)
        return {"trade": render_trade(trade, self.ctx, fields)}

    def trade_memo_update(self, call: ApiCall) -> JSON:
        tid = call.need_int("tid", low=1)
        flag = call.integer("flag", low=0, high=5)
        reset = call.boolean("reset")
        memo = call.text("memo")
        if memo is not None and len(memo) > 1000:
            raise invalid_argument("memo", "备注不能超过1000个字符")
        trade = self.state.update_memo(tid, memo=memo, flag=flag, reset=reset)
        return {"trade": {"tid": trade.tid, "modified": fmt_time(trade.modified, self.ctx.zone)}}

    def trade_memo_add(self, call: ApiCall) -> JSON:
        tid = call.need_int("tid", low=1)
        memo = call.required("memo")
        flag = call.integer("flag", low=0, high=5)
        trade = self.state.trade(tid)
        if trade.seller_memo:
            raise StateError(
                "isv.trade-memo-exist", "交易备注已存在, 请使用taobao.trade.memo.update"
            )
        trade = self.state.update_memo(tid, memo=memo, flag=flag)
        return {"trade": {"tid": trade.tid, "created": fmt_time(trade.modified, self.ctx.zone)}}

    # logistics ------------------------------------------------------------------------

    def _send(self, call: ApiCall, *, out_sid_required: bool) -> JSON:
        tid = call.need_int("tid", low=1)
        company_code = call.required("company_code")
        out_sid = call.required("out_sid") if out_sid_required else call.text("out_sid")
        sub_tids = call.id_list("sub_tid", limit=200)
        is_split = call.integer("is_split", default=0, low=0, high=1) == 1
        if is_split and not sub_tids:
            raise missing_argument("sub_tid")
        self.state.consign(
            tid,
            api=call.api,
            company_code=company_code,
            out_sid=out_sid,
            sub_tids=sub_tids or None,
            is_split=is_split,
            feature=call.text("feature"),
        )
        return {"shipping": {"is_success": True}}

    def logistics_offline_send(self, call: ApiCall) -> JSON:
        return self._send(call, out_sid_required=True)

    def logistics_online_send(self, call: ApiCall) -> JSON:
        return self._send(call, out_sid_required=False)

    def logistics_online_confirm(self, call: ApiCall) -> JSON:
        tid = call.need_int("tid", low=1)
        out_sid = call.required("out_sid")
        self.state.confirm_online(tid, out_sid)
        return {"shipping": {"is_success": True}}

    def logistics_dummy_send(self, call: ApiCall) -> JSON:
        tid = call.need_int("tid", low=1)
        self.state.consign(
            tid,
            api=call.api,
            company_code=None,
            out_sid=None,
            feature=call.text("feature"),
        )
        return {"shipping": {"is_success": True}}

    def logistics_companies_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        recommended = call.text("is_recommended")
        only_recommended = call.boolean("is_recommended") if recommended is not None else False
        order_mode = call.text("order_mode") or "all"
        if order_mode not in ("offline", "online", "all"):
            raise invalid_argument("order_mode")
        rows = [
            render_carrier(c, fields) for c in CARRIERS if not only_recommended or c.recommended
        ]
        return {"logistics_companies": _list("logistics_company", rows)}

    # items and stock ------------------------------------------------------------------

    def _sku_brief(self, sku: Sku) -> JSON:
        return {
            "sku_id": sku.sku_id,
            "num_iid": sku.num_iid,
            "outer_id": sku.outer_id,
            "quantity": sku.quantity,
            "modified": fmt_time(sku.modified, self.ctx.zone),
        }

    def _item_brief(self, item: Item, skus: list[Sku]) -> JSON:
        return {
            "iid": str(item.num_iid),
            "num_iid": item.num_iid,
            "num": item.num,
            "modified": fmt_time(item.modified, self.ctx.zone),
            "skus": _list("sku", [self._sku_brief(s) for s in skus]),
        }

    def item_quantity_update(self, call: ApiCall) -> JSON:
        num_iid = call.need_int("num_iid", low=1)
        quantity = call.need_int("quantity")
        sku_id = call.integer("sku_id", low=1)
        update_type = call.integer("type", default=1, low=1, high=2)
        assert update_type is not None
        item, sku = self.state.set_item_quantity(
            num_iid,
            sku_id=sku_id,
            outer_id=call.text("outer_id"),
            quantity=quantity,
            update_type=update_type,
        )
        return {"item": self._item_brief(item, [sku] if sku else [])}

    def skus_quantity_update(self, call: ApiCall) -> JSON:
        num_iid = call.need_int("num_iid", low=1)
        update_type = call.integer("type", default=1, low=1, high=2)
        assert update_type is not None
        by_sku = call.text("skuid_quantities")
        by_outer = call.text("outerid_quantities")
        if by_sku is None and by_outer is None:
            raise missing_argument("skuid_quantities")
        item = self.state.item(num_iid)
        name = "skuid_quantities" if by_sku is not None else "outerid_quantities"
        pairs = _parse_quantities(by_sku if by_sku is not None else by_outer or "", name)
        updates: list[tuple[Sku, int]] = []
        for key, quantity in pairs:
            if update_type == 1 and quantity < 0:
                raise invalid_argument(name, "全量更新时库存不能小于0")
            if name == "skuid_quantities":
                try:
                    sku_id = int(key)
                except ValueError:
                    raise invalid_argument(name) from None
                updates.append((item.sku(sku_id), quantity))
            else:
                matches = [s for s in item.skus if s.outer_id == key]
                if not matches:
                    raise StateError("isv.sku-not-exist", f"商家编码{key}对应的SKU不存在")
                updates.extend((s, quantity) for s in matches)
        item = self.state.set_skus_quantities(num_iid, updates, update_type)
        return {"item": self._item_brief(item, [sku for sku, _ in updates])}

    def items_onsale_get(self, call: ApiCall) -> JSON:
        # Only the fields TOP documents for this call (no SKUs: those come from
        # taobao.item.seller.get / taobao.item.skus.get), and always `total_results`: the call
        # has no `use_has_next`.
        requested = call.fields()
        fields = Fields(requested.names & ONSALE_ITEM_FIELDS, {})
        page = replace(_page(call, maximum=200), use_has_next=False)
        query = call.text("q")
        cid = call.integer("cid")
        start = call.time("start_modified")
        end = call.time("end_modified")
        rows = [
            item
            for item in self.state.items.values()
            if item.approve_status == "onsale"
            and (query is None or query in item.title)
            and (cid is None or item.cid == cid)
            and (start is None or item.modified >= start)
            and (end is None or item.modified <= end)
        ]
        order_by = call.text("order_by") or "list_time:desc"
        key_name, _, direction = order_by.partition(":")
        keys: dict[str, Callable[[Item], Any]] = {
            "list_time": lambda i: i.list_time,
            "delist_time": lambda i: i.delist_time,
            "modified": lambda i: i.modified,
            "num": lambda i: i.num,
            "sold_quantity": lambda i: i.sold_quantity,
            "price": lambda i: i.price,
        }
        if key_name not in keys or direction not in ("asc", "desc", ""):
            raise invalid_argument("order_by")
        sort_key = keys[key_name]
        rows.sort(key=lambda i: (sort_key(i), i.num_iid), reverse=direction != "asc")
        chunk, meta = page.apply(rows)
        return {**meta, "items": _list("item", [render_item(i, self.ctx, fields) for i in chunk])}

    def item_seller_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        item = self.state.item(call.need_int("num_iid", low=1))
        return {"item": render_item(item, self.ctx, fields)}

    def item_skus_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        num_iids = call.id_list("num_iids", limit=40)
        if not num_iids:
            raise missing_argument("num_iids")
        rows: list[JSON] = []
        for num_iid in num_iids:
            item = self.state.items.get(num_iid)
            if item is None:
                continue
            rows.extend(fields.select(render_sku(s, self.ctx)) for s in item.skus)
        return {"skus": _list("sku", rows)}

    # refunds --------------------------------------------------------------------------

    def _refund_json(self, refund: Refund, fields: Fields) -> JSON:
        trade = self.state.trades.get(refund.tid)
        return fields.select(render_refund(refund, trade, self.ctx))

    def refunds_receive_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        status = call.text("status")
        if status is not None and status not in REFUND_STATUSES:
            raise invalid_argument("status")
        start = call.time("start_modified")
        end = call.time("end_modified")
        buyer_open_uid = call.text("buyer_open_uid")
        types = self._type_filter(call) if call.text("type") else frozenset(TRADE_TYPES)
        page = _page(call)
        rows = [
            r
            for r in self.state.refunds.values()
            if (status is None or r.status == status)
            and (start is None or r.modified >= start)
            and (end is None or r.modified <= end)
            and self.state.trades[r.tid].type in types
            and (
                buyer_open_uid is None or self.state.trades[r.tid].buyer.open_uid == buyer_open_uid
            )
        ]
        rows.sort(key=lambda r: (r.modified, r.refund_id), reverse=True)
        chunk, meta = page.apply(rows)
        return {**meta, "refunds": _list("refund", [self._refund_json(r, fields) for r in chunk])}

    def refund_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        refund = self.state.refund(call.need_int("refund_id", low=1))
        return {"refund": self._refund_json(refund, fields)}

    def refund_refuse(self, call: ApiCall) -> JSON:
        refund_id = call.need_int("refund_id", low=1)
        message = call.required("refuse_message")
        if not 2 <= len(message) <= 200:
            raise invalid_argument("refuse_message", "拒绝退款说明长度为2-200个字符")
        refund = self.state.refuse_refund(refund_id)
        return {
            "refund": {
                "refund_id": str(refund.refund_id),
                "status": refund.status,
                "modified": fmt_time(refund.modified, self.ctx.zone),
            },
            "is_success": True,
        }

    # TMC ------------------------------------------------------------------------------

    def _group(self, call: ApiCall) -> str:
        group = call.text("group_name") or "default"
        if group not in self.options.tmc_groups:
            raise StateError("isv.group-not-exist", f"分组{group}不存在")
        return group

    def tmc_user_permit(self, call: ApiCall) -> JSON:
        raw = call.text("topics")
        topics = EMITTED_TOPICS
        if raw is not None:
            wanted = tuple(t.strip() for t in raw.split(",") if t.strip())
            unknown = [t for t in wanted if t not in EMITTED_TOPICS]
            if unknown:
                raise StateError("isv.topic-not-exist", f"消息主题{unknown[0]}不存在或未订阅")
            topics = wanted
        sub = self.subscription
        sub.permitted = True
        sub.topics = topics
        sub.modified = call.now
        return {"is_success": True}

    def _check_nick(self, call: ApiCall) -> None:
        nick = call.required("nick")
        if nick != self.options.seller_nick:
            raise StateError("isv.user-not-exist:invalid-nick", f"用户{nick}不存在或未授权")

    def tmc_user_cancel(self, call: ApiCall) -> JSON:
        self._check_nick(call)
        self.subscription.permitted = False
        self.subscription.modified = call.now
        return {"is_success": True}

    def tmc_user_get(self, call: ApiCall) -> JSON:
        fields = call.fields()
        self._check_nick(call)
        sub = self.subscription
        data: JSON = {
            "user_nick": self.options.seller_nick,
            "user_id": self.options.seller_id,
            "is_valid": sub.permitted,
            "created": fmt_time(sub.created, self.ctx.zone),
            "modified": fmt_time(sub.modified, self.ctx.zone),
            "group_name": self.options.tmc_group,
        }
        selected = fields.select(data)
        if "topics" in fields:
            selected["topics"] = _list("string", list(sub.topics))
        return {"tmc_user": selected}

    def tmc_messages_consume(self, call: ApiCall) -> JSON:
        group = self._group(call)
        quantity = call.integer("quantity", default=100, low=10, high=200)
        assert quantity is not None
        messages = self.tmc.consume(group, quantity)
        rows = [m.render(self.ctx.zone) for m in messages]
        return {"messages": _list("tmc_message", rows)}

    def tmc_messages_confirm(self, call: ApiCall) -> JSON:
        group = self._group(call)
        confirmed = call.id_list("s_message_ids", limit=200)
        failed = call.id_list("f_message_ids", limit=200)
        if not confirmed and not failed:
            raise missing_argument("s_message_ids")
        self.tmc.confirm(group, confirmed, failed)
        return {"is_success": True}

    def time_get(self, call: ApiCall) -> JSON:
        return {"time": fmt_time(call.now, self.ctx.zone)}

    # privacy shipping (see privacy.py) ----------------------------------------------------

    def cainiao_waybill_ii_get(self, call: ApiCall) -> JSON:
        return self.privacy.waybill_get(call.text(WAYBILL_PARAM), call.now)

    def top_oaid_decrypt(self, call: ApiCall) -> JSON:
        return self.privacy.oaid_decrypt(call.text(DECRYPT_PARAM), call.now, self.ctx)


def _multipart_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    """Text fields of a ``multipart/form-data`` body; file parts (a ``filename``, or the
    ``file`` disposition the legacy Python SDK uses) are skipped: they are not signed."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    fields: list[tuple[str, str]] = []
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        if str(disposition).split(";", 1)[0].strip().lower() == "file":
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        charset = part.get_content_charset() or "utf-8"
        fields.append((name, raw.decode(charset, errors="replace")))
    return fields


def _parse_quantities(raw: str, name: str) -> list[tuple[str, int]]:
    pairs: list[tuple[str, int]] = []
    for part in raw.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.rpartition(":")
        if not sep or not key:
            raise invalid_argument(name)
        try:
            pairs.append((key.strip(), int(value)))
        except ValueError:
            raise invalid_argument(name) from None
    if not pairs or len(pairs) > 20:
        raise invalid_argument(name, "一次最多更新20个SKU")
    return pairs


def _http_error_page(status: int) -> str:
    phrases = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    phrase = phrases.get(status, "Gateway Timeout" if status == 504 else "Error")
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>Tengine</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


__all__ = ["GATEWAY_PATHS", "ApiCall", "CallRecord", "SessionRegistry", "TaobaoGateway"]
