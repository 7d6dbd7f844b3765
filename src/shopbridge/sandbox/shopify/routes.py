"""Shopify Admin REST API: request pipeline and resource handlers.

Every request under ``/admin/`` goes through the same pipeline, in this order:

1. fault injection (``/_sandbox/faults``: 5xx, hang, 429, 401);
2. version resolution (``/admin/api/{version}/...``; unversioned ``/admin/...`` uses the
   oldest supported version; ``/admin/oauth/access_scopes.json`` is unversioned);
3. the ``.json`` extension (anything else answers 406);
4. authentication (``X-Shopify-Access-Token``, or legacy Basic auth with the token as
   password) - 401 with Shopify's body otherwise;
5. the leaky-bucket rate limit - 429 with ``Retry-After: 2.0``;
6. routing (404 ``{"errors":"Not Found"}`` when nothing matches) and access scopes (403);
7. the handler.

Every response carries ``X-Request-Id`` and ``X-Shopify-Shop-Api-Call-Limit``; versioned
ones carry ``X-Shopify-API-Version`` (the version actually used).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from shopbridge.sandbox.common.faults import FaultInjector, FaultKind
from shopbridge.sandbox.common.ratelimit import LeakyBucket
from shopbridge.sandbox.shopify.envelope import (
    JSON,
    PAGINATION_DOC,
    PageCursor,
    RenderContext,
    ShopifyHTTPError,
    apply_fields,
    bad_param,
    dump,
    forbidden_scope,
    iter_ids,
    link_header,
    money,
    not_acceptable,
    not_found,
    parse_fields,
    rate_limited,
    render_event,
    render_fulfillment,
    render_fulfillment_order,
    render_inventory_item,
    render_inventory_level,
    render_location,
    render_order,
    render_product,
    render_refund,
    render_shop,
    render_transaction,
    render_variant,
    render_webhook,
    server_error,
    unauthorized,
    unprocessable,
)
from shopbridge.sandbox.shopify.state import (
    FulfillmentRequest,
    InvalidError,
    NotFoundError,
    Order,
    RefundLineRequest,
    ShopifyState,
    TrackingInfo,
    TransactionKind,
)
from shopbridge.sandbox.shopify.versions import resolve_version

T = TypeVar("T")

logger = logging.getLogger("shopbridge.sandbox.shopify")

_PRODUCT_DEPRECATION = "https://shopify.dev/api/admin-rest/latest/resources/product"
_VARIANT_DEPRECATION = "https://shopify.dev/api/admin-rest/latest/resources/product-variant"
_ORDER_STATUSES = ("open", "closed", "cancelled", "any")
_FINANCIAL = (
    "authorized",
    "pending",
    "paid",
    "partially_paid",
    "refunded",
    "voided",
    "partially_refunded",
    "any",
    "unpaid",
)
_FULFILLMENT = ("shipped", "fulfilled", "partial", "unshipped", "unfulfilled", "any", "restocked")
_ORDER_SORT_FIELDS = ("id", "created_at", "updated_at", "processed_at")
_EXPECTED_PAGE_PARAMS = frozenset({"limit", "fields", "page_info"})


# ---------------------------------------------------------------------------------------
# request / response


@dataclass
class ApiRequest:
    """A parsed Admin API request, handed to handlers."""

    method: str
    resource_path: str
    """Path under the API root, without ``.json`` (``orders/123``)."""
    params: dict[str, str]
    query: list[tuple[str, str]]
    body: bytes
    version: str
    base_url: str
    api_root: str
    ctx: RenderContext

    def q(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def q_all(self, name: str) -> list[str]:
        return [value for key, value in self.query if key in (name, f"{name}[]")]

    def q_keys(self) -> set[str]:
        return {key for key, _ in self.query}

    def id(self, name: str = "id") -> int:
        return int(self.params[name])

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ShopifyHTTPError(400, "Bad Request: the request body is not valid JSON") from None

    def root(self, name: str) -> dict[str, Any]:
        data = self.json()
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, dict):
            raise bad_param(name)
        return value

    @property
    def fields(self) -> list[str] | None:
        return parse_fields(self.q("fields"))

    def url_for(self, resource_path: str) -> str:
        return f"{self.base_url}{self.api_root}/{resource_path}.json"


@dataclass
class ApiResponse:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    scopes: tuple[str, ...] = ()
    """Any one of these scopes grants access; empty = no scope needed."""
    deprecated_reason: str | None = None


class TokenRegistry:
    """The access token(s) of the shop, with expiry and rotation for fault drills."""

    def __init__(self, token: str) -> None:
        self.current = token
        self.expired = False
        self.revoked: set[str] = set()

    def valid(self, token: str | None) -> bool:
        if token is None or self.expired:
            return False
        return hmac.compare_digest(token.encode(), self.current.encode())

    def expire(self) -> None:
        self.expired = True

    def rotate(self, new_token: str) -> None:
        self.revoked.add(self.current)
        self.current = new_token
        self.expired = False

    def restore(self, token: str) -> None:
        self.current = token
        self.expired = False
        self.revoked.clear()


# ---------------------------------------------------------------------------------------
# parsing helpers


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_param(name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise bad_param(name)


def _as_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _as_money(value: Any, name: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise bad_param(name) from None
    if not amount.is_finite():
        raise bad_param(name)
    return amount


def _parse_time(value: str, name: str, req: ApiRequest) -> float:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+") if "T" in text else text)
    except ValueError:
        raise bad_param(name, f"{name} is not a valid ISO-8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=req.ctx.zone)
    return moment.timestamp()


def _limit(req: ApiRequest, default: int = 50) -> int:
    raw = req.q("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise bad_param("limit") from None
    if limit > 250:
        raise ShopifyHTTPError(400, "Limit exceeds maximum limit of 250")
    if limit < 1:
        raise bad_param("limit", "Limit must be at least 1")
    return limit


def _time_filters(req: ApiRequest, names: Sequence[str]) -> dict[str, float]:
    result: dict[str, float] = {}
    for name in names:
        value = req.q(name)
        if value:
            result[name] = _parse_time(value, name, req)
    return result


def _in_window(moment: datetime | None, filters: dict[str, Any], prefix: str) -> bool:
    low = filters.get(f"{prefix}_min")
    high = filters.get(f"{prefix}_max")
    if low is None and high is None:
        return True
    if moment is None:
        return False
    stamp = moment.timestamp()
    return not (low is not None and stamp < low) and not (high is not None and stamp > high)


@dataclass(frozen=True)
class Sort:
    key: Callable[[Any], list[Any]]
    descending: bool


def _paginate(
    req: ApiRequest,
    resource: str,
    root: str,
    parse: Callable[[ApiRequest], dict[str, Any]],
    select: Callable[[dict[str, Any]], list[T]],
    sort: Callable[[dict[str, Any]], Sort],
    render: Callable[[T], JSON],
    *,
    headers: dict[str, str] | None = None,
) -> ApiResponse:
    """Shopify cursor pagination (``limit`` + ``page_info`` + ``Link`` header)."""
    if req.q("page") is not None:
        raise ShopifyHTTPError(400, {"page": "page cannot be passed."})
    limit = _limit(req)
    page_info = req.q("page_info")
    cursor: PageCursor | None = None
    if page_info is not None:
        extra = sorted(req.q_keys() - _EXPECTED_PAGE_PARAMS)
        if extra:
            raise ShopifyHTTPError(
                400,
                {
                    name: f"{name} cannot be passed when page_info is present. See {PAGINATION_DOC} for more information."
                    for name in extra
                },
            )
        cursor = PageCursor.decode(page_info, resource)
        if cursor is None:
            raise ShopifyHTTPError(400, {"page_info": "Invalid value."})
        filters = cursor.filters
    else:
        filters = parse(req)
    order = sort(filters)
    items = sorted(select(filters), key=order.key, reverse=order.descending)

    def after(key: list[Any], boundary: list[Any]) -> bool:
        return key < boundary if order.descending else key > boundary

    start = 0
    end = min(limit, len(items))
    if cursor is not None and cursor.direction == "next":
        start = next(
            (i for i, item in enumerate(items) if after(order.key(item), cursor.key)), len(items)
        )
        end = min(start + limit, len(items))
    elif cursor is not None:
        end = next(
            (i for i, item in enumerate(items) if not after(cursor.key, order.key(item))),
            len(items),
        )
        start = max(0, end - limit)
    page = items[start:end]
    prev_key = order.key(page[0]) if page else (cursor.key if cursor else None)
    next_key = order.key(page[-1]) if page else (cursor.key if cursor else None)
    previous = (
        PageCursor(resource, filters, "previous", prev_key).encode()
        if start > 0 and prev_key is not None
        else None
    )
    next_ = (
        PageCursor(resource, filters, "next", next_key).encode()
        if end < len(items) and next_key is not None
        else None
    )
    fields = req.fields
    response = ApiResponse({root: [apply_fields(render(item), fields) for item in page]})
    link = link_header(
        req.url_for(req.resource_path),
        limit=limit,
        fields=req.q("fields"),
        previous=previous,
        next_=next_,
    )
    if link:
        response.headers["Link"] = link
    if headers:
        response.headers.update(headers)
    return response


# ---------------------------------------------------------------------------------------
# the API


class ShopifyAdminApi:
    """Routes and handlers of the emulated Admin REST API for one shop."""

    def __init__(
        self,
        state: ShopifyState,
        *,
        faults: FaultInjector,
        bucket: LeakyBucket,
        tokens: TokenRegistry,
    ) -> None:
        self.state = state
        self.options = state.options
        self.faults = faults
        self.bucket = bucket
        self.tokens = tokens
        self.routes = self._build_routes()

    # pipeline ------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        headers: dict[str, str] = {"X-Request-Id": str(uuid.uuid4())}
        method = request.method.upper()
        path = request.url.path
        call_limit_full = False
        try:
            fault = self.faults.take(method, path)
            if fault is not None:
                if fault.kind == FaultKind.HANG:
                    await asyncio.sleep(fault.seconds)
                    if fault.status is not None:
                        raise self._fault_status(fault.status)
                elif fault.kind == FaultKind.ERROR:
                    raise self._fault_status(fault.status or 500)
                elif fault.kind == FaultKind.RATE_LIMIT:
                    call_limit_full = True
                    raise rate_limited(self.bucket.leak_per_second)
                else:
                    raise unauthorized()
            version, api_root, rest = self._resolve(path)
            if version is not None:
                headers["X-Shopify-API-Version"] = version
            if not rest.endswith(".json"):
                # Shopify's REST API only speaks JSON (``orders.xml`` or no extension).
                raise not_acceptable()
            self._authenticate(request)
            decision = self.bucket.acquire()
            if not decision.allowed:
                call_limit_full = True
                raise rate_limited(self.bucket.leak_per_second)
            resource_path = rest[: -len(".json")]
            route, params = self._match(method, resource_path)
            if route.scopes and not (set(route.scopes) & self.options.granted_scopes()):
                raise forbidden_scope(route.scopes[0])
            api_request = ApiRequest(
                method=method,
                resource_path=resource_path,
                params=params,
                query=list(request.query_params.multi_items()),
                body=await request.body(),
                version=version or self.options.oldest_api_version,
                base_url=f"{request.url.scheme}://{request.url.netloc}",
                api_root=api_root,
                ctx=RenderContext(self.state, version or self.options.oldest_api_version),
            )
            with self.state.lock:
                result = route.handler(api_request)
            if route.deprecated_reason:
                result.headers.setdefault(
                    "X-Shopify-API-Deprecated-Reason", route.deprecated_reason
                )
            status, body = result.status, result.body
            headers.update(result.headers)
        except ShopifyHTTPError as exc:
            status, body = exc.status, exc.body()
            headers.update(exc.headers)
        except NotFoundError:
            status, body = 404, not_found().body()
        except InvalidError as exc:
            status, body = 422, unprocessable(exc.errors).body()
        except Exception:  # a sandbox bug must still look like Shopify's 500
            logger.exception("unhandled error in %s %s", method, path)
            status, body = 500, server_error(500).body()
        capacity = self.bucket.capacity
        used = capacity if call_limit_full else self.bucket.used()
        headers["X-Shopify-Shop-Api-Call-Limit"] = f"{used}/{capacity}"
        # Header names go out lower-cased (Starlette/uvicorn), which is also what
        # Shopify's edge sends; clients must look headers up case-insensitively.
        content = b"" if method == "HEAD" or status == 204 or body is None else dump(body)
        response = Response(content=content, status_code=status, headers=headers)
        if status != 204:
            response.headers["Content-Type"] = "application/json; charset=utf-8"
        return response

    @staticmethod
    def _fault_status(status: int) -> ShopifyHTTPError:
        if status >= 500:
            return server_error(status)
        if status == 401:
            return unauthorized()
        if status == 404:
            return not_found()
        return ShopifyHTTPError(status, "Injected fault")

    def _resolve(self, path: str) -> tuple[str | None, str, str]:
        """Return (served version, API root path, rest of the path)."""
        if path == "/admin/oauth/access_scopes.json":
            return None, "/admin/oauth", "access_scopes.json"
        if path.startswith("/admin/api/"):
            requested, _, rest = path.removeprefix("/admin/api/").partition("/")
            served = resolve_version(
                requested, self.state.clock.now(), self.options.oldest_api_version
            )
            if served is None or not rest:
                raise not_found()
            return served, f"/admin/api/{requested}", rest
        if path.startswith("/admin/") and not path.startswith("/admin/oauth/"):
            rest = path.removeprefix("/admin/")
            if rest:
                return self.options.oldest_api_version, "/admin", rest
        raise not_found()

    def _authenticate(self, request: Request) -> None:
        token = request.headers.get("x-shopify-access-token")
        if token is None:
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(auth[6:].strip()).decode("utf-8")
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                token = decoded.partition(":")[2] or None
        if not self.tokens.valid(token):
            raise unauthorized()

    def _match(self, method: str, resource_path: str) -> tuple[Route, dict[str, str]]:
        lookup = "GET" if method == "HEAD" else method
        for route in self.routes:
            if route.method != lookup:
                continue
            match = route.pattern.fullmatch(resource_path)
            if match:
                return route, match.groupdict()
        raise not_found()

    # route table ---------------------------------------------------------------

    def _build_routes(self) -> list[Route]:
        read_orders = ("read_orders", "write_orders")
        write_orders = ("write_orders",)
        read_fo = (
            "read_merchant_managed_fulfillment_orders",
            "read_assigned_fulfillment_orders",
            "read_third_party_fulfillment_orders",
        )
        write_fo = (
            "write_merchant_managed_fulfillment_orders",
            "write_assigned_fulfillment_orders",
            "write_third_party_fulfillment_orders",
        )
        read_fulfillments = ("read_fulfillments", *read_orders)
        read_products = ("read_products",)
        read_inventory = ("read_inventory",)
        write_inventory = ("write_inventory",)
        read_locations = ("read_locations", "read_inventory")
        table: list[tuple[str, str, Handler, tuple[str, ...], str | None]] = [
            ("GET", r"shop", self.get_shop, (), None),
            ("GET", r"access_scopes", self.get_access_scopes, (), None),
            # orders
            ("GET", r"orders", self.list_orders, read_orders, None),
            ("GET", r"orders/count", self.count_orders, read_orders, None),
            ("GET", r"customers/(?P<customer_id>\d+)/orders", self.list_orders, read_orders, None),
            ("GET", r"orders/(?P<id>\d+)", self.get_order, read_orders, None),
            ("PUT", r"orders/(?P<id>\d+)", self.update_order, write_orders, None),
            ("DELETE", r"orders/(?P<id>\d+)", self.delete_order, write_orders, None),
            ("POST", r"orders/(?P<id>\d+)/cancel", self.cancel_order, write_orders, None),
            ("POST", r"orders/(?P<id>\d+)/close", self.close_order, write_orders, None),
            ("POST", r"orders/(?P<id>\d+)/open", self.open_order, write_orders, None),
            ("GET", r"orders/(?P<id>\d+)/events", self.list_order_events, read_orders, None),
            ("GET", r"orders/(?P<id>\d+)/transactions", self.list_transactions, read_orders, None),
            (
                "GET",
                r"orders/(?P<id>\d+)/transactions/count",
                self.count_transactions,
                read_orders,
                None,
            ),
            (
                "GET",
                r"orders/(?P<id>\d+)/transactions/(?P<tid>\d+)",
                self.get_transaction,
                read_orders,
                None,
            ),
            (
                "POST",
                r"orders/(?P<id>\d+)/transactions",
                self.create_transaction,
                write_orders,
                None,
            ),
            ("GET", r"orders/(?P<id>\d+)/refunds", self.list_refunds, read_orders, None),
            ("GET", r"orders/(?P<id>\d+)/refunds/(?P<rid>\d+)", self.get_refund, read_orders, None),
            ("POST", r"orders/(?P<id>\d+)/refunds", self.create_refund, write_orders, None),
            (
                "POST",
                r"orders/(?P<id>\d+)/refunds/calculate",
                self.calculate_refund,
                write_orders,
                None,
            ),
            # fulfillment orders and fulfillments
            (
                "GET",
                r"orders/(?P<id>\d+)/fulfillment_orders",
                self.list_fulfillment_orders,
                read_fo,
                None,
            ),
            ("GET", r"fulfillment_orders/(?P<id>\d+)", self.get_fulfillment_order, read_fo, None),
            (
                "GET",
                r"fulfillment_orders/(?P<id>\d+)/fulfillments",
                self.list_fo_fulfillments,
                read_fo,
                None,
            ),
            (
                "GET",
                r"orders/(?P<id>\d+)/fulfillments",
                self.list_fulfillments,
                read_fulfillments,
                None,
            ),
            (
                "GET",
                r"orders/(?P<id>\d+)/fulfillments/count",
                self.count_fulfillments,
                read_fulfillments,
                None,
            ),
            (
                "GET",
                r"orders/(?P<id>\d+)/fulfillments/(?P<fid>\d+)",
                self.get_fulfillment,
                read_fulfillments,
                None,
            ),
            ("POST", r"fulfillments", self.create_fulfillment, write_fo, None),
            (
                "POST",
                r"fulfillments/(?P<fid>\d+)/update_tracking",
                self.update_tracking,
                write_fo,
                None,
            ),
            ("POST", r"fulfillments/(?P<fid>\d+)/cancel", self.cancel_fulfillment, write_fo, None),
            (
                "POST",
                r"orders/(?P<id>\d+)/fulfillments/(?P<fid>\d+)/cancel",
                self.cancel_fulfillment,
                write_fo,
                None,
            ),
            # catalog
            ("GET", r"products", self.list_products, read_products, _PRODUCT_DEPRECATION),
            ("GET", r"products/count", self.count_products, read_products, _PRODUCT_DEPRECATION),
            ("GET", r"products/(?P<id>\d+)", self.get_product, read_products, _PRODUCT_DEPRECATION),
            (
                "GET",
                r"products/(?P<id>\d+)/variants",
                self.list_product_variants,
                read_products,
                _VARIANT_DEPRECATION,
            ),
            (
                "GET",
                r"products/(?P<id>\d+)/variants/count",
                self.count_product_variants,
                read_products,
                _VARIANT_DEPRECATION,
            ),
            (
                "GET",
                r"products/(?P<id>\d+)/variants/(?P<vid>\d+)",
                self.get_variant,
                read_products,
                _VARIANT_DEPRECATION,
            ),
            (
                "GET",
                r"variants/(?P<vid>\d+)",
                self.get_variant,
                read_products,
                _VARIANT_DEPRECATION,
            ),
            # locations and inventory
            ("GET", r"locations", self.list_locations, read_locations, None),
            ("GET", r"locations/count", self.count_locations, read_locations, None),
            ("GET", r"locations/(?P<id>\d+)", self.get_location, read_locations, None),
            (
                "GET",
                r"locations/(?P<id>\d+)/inventory_levels",
                self.list_location_levels,
                read_inventory,
                None,
            ),
            ("GET", r"inventory_items", self.list_inventory_items, read_inventory, None),
            ("GET", r"inventory_items/(?P<id>\d+)", self.get_inventory_item, read_inventory, None),
            ("GET", r"inventory_levels", self.list_inventory_levels, read_inventory, None),
            ("POST", r"inventory_levels/set", self.set_inventory_level, write_inventory, None),
            (
                "POST",
                r"inventory_levels/adjust",
                self.adjust_inventory_level,
                write_inventory,
                None,
            ),
            (
                "POST",
                r"inventory_levels/connect",
                self.connect_inventory_level,
                write_inventory,
                None,
            ),
            ("DELETE", r"inventory_levels", self.delete_inventory_level, write_inventory, None),
            # events and webhooks
            ("GET", r"events", self.list_events, (), None),
            ("GET", r"events/count", self.count_events, (), None),
            ("GET", r"events/(?P<id>\d+)", self.get_event, (), None),
            ("GET", r"webhooks", self.list_webhooks, (), None),
            ("GET", r"webhooks/count", self.count_webhooks, (), None),
            ("GET", r"webhooks/(?P<id>\d+)", self.get_webhook, (), None),
            ("POST", r"webhooks", self.create_webhook, (), None),
            ("PUT", r"webhooks/(?P<id>\d+)", self.update_webhook, (), None),
            ("DELETE", r"webhooks/(?P<id>\d+)", self.delete_webhook, (), None),
        ]
        return [Route(m, re.compile(p), h, s, d) for m, p, h, s, d in table]

    # shop ----------------------------------------------------------------------

    def get_shop(self, req: ApiRequest) -> ApiResponse:
        if req.api_root == "/admin/oauth":
            raise not_found()
        return ApiResponse({"shop": apply_fields(render_shop(req.ctx), req.fields)})

    def get_access_scopes(self, req: ApiRequest) -> ApiResponse:
        if req.api_root != "/admin/oauth":
            raise not_found()
        listed = list(dict.fromkeys(self.options.scopes))
        listed += sorted(self.options.granted_scopes() - set(listed))
        return ApiResponse({"access_scopes": [{"handle": scope} for scope in listed]})

    # orders --------------------------------------------------------------------

    def _order_filters(self, req: ApiRequest, *, for_count: bool = False) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        status = req.q("status") or "open"
        if status not in _ORDER_STATUSES:
            raise bad_param("status", f"status must be one of {', '.join(_ORDER_STATUSES)}")
        filters["status"] = status
        financial = req.q("financial_status") or "any"
        if financial not in _FINANCIAL:
            raise bad_param(
                "financial_status", f"financial_status must be one of {', '.join(_FINANCIAL)}"
            )
        filters["financial_status"] = financial
        fulfillment = req.q("fulfillment_status") or "any"
        if fulfillment not in _FULFILLMENT:
            raise bad_param(
                "fulfillment_status", f"fulfillment_status must be one of {', '.join(_FULFILLMENT)}"
            )
        filters["fulfillment_status"] = fulfillment
        filters.update(
            _time_filters(
                req, ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
            )
        )
        if for_count:
            return filters
        filters.update(_time_filters(req, ("processed_at_min", "processed_at_max")))
        if "customer_id" in req.params:
            filters["customer_id"] = int(req.params["customer_id"])
        try:
            ids = iter_ids(req.q_all("ids"))
        except ValueError:
            raise bad_param("ids") from None
        if ids:
            filters["ids"] = ids
        since = req.q("since_id")
        if since:
            filters["since_id"] = _as_int(since, "since_id")
        name = req.q("name")
        if name:
            filters["name"] = name
        sort = req.q("order")
        if sort:
            parts = sort.replace("+", " ").split()
            if (
                not parts
                or parts[0] not in _ORDER_SORT_FIELDS
                or (len(parts) > 1 and parts[1].lower() not in ("asc", "desc"))
            ):
                raise bad_param("order", "order must be '<field> asc|desc'")
            filters["order"] = [parts[0], parts[1].lower() if len(parts) > 1 else "asc"]
        return filters

    def _select_orders(self, filters: dict[str, Any]) -> list[Order]:
        state = self.state
        horizon = None
        if "read_all_orders" not in self.options.granted_scopes():
            horizon = state.now() - timedelta(days=60)
        result = []
        for order in state.orders.values():
            if horizon is not None and order.created_at < horizon:
                continue
            if not self._order_matches(order, filters):
                continue
            result.append(order)
        return result

    @staticmethod
    def _order_matches(order: Order, filters: dict[str, Any]) -> bool:
        status = filters.get("status", "open")
        if status == "open" and (order.closed_at is not None or order.cancelled_at is not None):
            return False
        if status == "closed" and order.closed_at is None:
            return False
        if status == "cancelled" and order.cancelled_at is None:
            return False
        financial = filters.get("financial_status", "any")
        if financial not in ("any", None):
            current = order.financial_status
            if financial == "unpaid":
                if current not in ("authorized", "partially_paid", "pending"):
                    return False
            elif current != financial:
                return False
        fulfillment = filters.get("fulfillment_status", "any")
        if fulfillment not in ("any", None):
            current_f = order.fulfillment_status
            wanted: dict[str, tuple[str | None, ...]] = {
                "shipped": ("fulfilled",),
                "fulfilled": ("fulfilled",),
                "partial": ("partial",),
                "unshipped": (None,),
                "unfulfilled": (None, "partial"),
                "restocked": ("restocked",),
            }
            if current_f not in wanted[fulfillment]:
                return False
        for prefix, moment in (
            ("created_at", order.created_at),
            ("updated_at", order.updated_at),
            ("processed_at", order.processed_at),
        ):
            if not _in_window(moment, filters, prefix):
                return False
        if "ids" in filters and order.id not in filters["ids"]:
            return False
        if "since_id" in filters and order.id <= filters["since_id"]:
            return False
        if "customer_id" in filters and order.customer_id != filters["customer_id"]:
            return False
        if "name" in filters:
            wanted_name = str(filters["name"])
            if order.name != wanted_name and order.name != f"#{wanted_name.lstrip('#')}":
                return False
        return True

    @staticmethod
    def _order_sort(filters: dict[str, Any]) -> Sort:
        spec = filters.get("order")
        if spec is None:
            spec = ["id", "asc"] if "since_id" in filters else ["id", "desc"]
        field_name, direction = spec[0], spec[1]

        def key(order: Order) -> list[Any]:
            if field_name == "id":
                return [order.id, order.id]
            moment: datetime = getattr(order, field_name)
            return [moment.timestamp(), order.id]

        return Sort(key, direction == "desc")

    def list_orders(self, req: ApiRequest) -> ApiResponse:
        return _paginate(
            req,
            "orders",
            "orders",
            self._order_filters,
            self._select_orders,
            self._order_sort,
            lambda order: render_order(order, req.ctx),
        )

    def count_orders(self, req: ApiRequest) -> ApiResponse:
        filters = self._order_filters(req, for_count=True)
        return ApiResponse({"count": len(self._select_orders(filters))})

    def _order(self, req: ApiRequest) -> Order:
        order = self.state.order(req.id())
        if "read_all_orders" not in self.options.granted_scopes() and (
            order.created_at < self.state.now() - timedelta(days=60)
        ):
            raise not_found()
        return order

    def _order_response(self, order: Order, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"order": apply_fields(render_order(order, req.ctx), req.fields)})

    def get_order(self, req: ApiRequest) -> ApiResponse:
        return self._order_response(self._order(req), req)

    def update_order(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        data = req.root("order")
        note_attributes = data.get("note_attributes")
        if note_attributes is not None and not isinstance(note_attributes, list):
            raise unprocessable({"note_attributes": ["must be a list"]})
        updated = self.state.update_order(
            order.id,
            note=data.get("note") if isinstance(data.get("note"), str) else None,
            tags=data.get("tags") if isinstance(data.get("tags"), str) else None,
            email=data.get("email") if isinstance(data.get("email"), str) else None,
            phone=data.get("phone") if isinstance(data.get("phone"), str) else None,
            note_attributes=(
                [
                    {"name": str(a.get("name")), "value": str(a.get("value"))}
                    for a in note_attributes
                    if isinstance(a, dict)
                ]
                if isinstance(note_attributes, list)
                else None
            ),
            buyer_accepts_marketing=(
                data["buyer_accepts_marketing"]
                if isinstance(data.get("buyer_accepts_marketing"), bool)
                else None
            ),
        )
        return self._order_response(updated, req)

    def delete_order(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        if order.cancelled_at is None and order.closed_at is None:
            raise unprocessable({"base": ["Only archived or cancelled orders can be deleted"]})
        self.state.delete_order(order.id)
        return ApiResponse({})

    def cancel_order(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        body = req.json()
        options: dict[str, Any] = dict(req.query)
        if isinstance(body, dict):
            options.update(body)
        reason = str(options.get("reason") or "other")
        refund_option = options.get("refund")
        cancelled = self.state.cancel_order(
            order.id,
            reason=reason,
            restock=_as_bool(options.get("restock"), default=False),
            refund=True
            if isinstance(refund_option, dict)
            else _as_bool(refund_option, default=True),
        )
        return self._order_response(cancelled, req)

    def close_order(self, req: ApiRequest) -> ApiResponse:
        return self._order_response(self.state.close_order(self._order(req).id), req)

    def open_order(self, req: ApiRequest) -> ApiResponse:
        return self._order_response(self.state.reopen_order(self._order(req).id), req)

    def list_order_events(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        events = [
            e for e in self.state.events if e.subject_type == "Order" and e.subject_id == order.id
        ]
        return ApiResponse(
            {
                "events": [
                    apply_fields(render_event(e, req.ctx), req.fields) for e in reversed(events)
                ]
            }
        )

    # transactions and refunds ----------------------------------------------------

    def list_transactions(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        since = req.q("since_id")
        since_id = _as_int(since, "since_id") if since else 0
        return ApiResponse(
            {
                "transactions": [
                    apply_fields(render_transaction(order, t, req.ctx), req.fields)
                    for t in order.transactions
                    if t.id > since_id
                ]
            }
        )

    def count_transactions(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self._order(req).transactions)})

    def get_transaction(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        tid = req.id("tid")
        for transaction in order.transactions:
            if transaction.id == tid:
                return ApiResponse(
                    {
                        "transaction": apply_fields(
                            render_transaction(order, transaction, req.ctx), req.fields
                        )
                    }
                )
        raise not_found()

    def create_transaction(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        data = req.root("transaction")
        kind = data.get("kind")
        if kind not in ("authorization", "capture", "sale", "void", "refund"):
            raise unprocessable({"kind": ["is not included in the list"]})
        amount = (
            _as_money(data["amount"], "amount") if data.get("amount") not in (None, "") else None
        )
        parent = data.get("parent_id")
        kind_value: TransactionKind = kind
        transaction = self.state.add_transaction(
            order.id,
            kind_value,
            amount,
            _as_int(parent, "parent_id") if parent is not None else None,
        )
        return ApiResponse(
            {"transaction": render_transaction(order, transaction, req.ctx)}, status=201
        )

    def list_refunds(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        return ApiResponse(
            {
                "refunds": [
                    apply_fields(render_refund(order, r, req.ctx), req.fields)
                    for r in order.refunds
                ]
            }
        )

    def get_refund(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        rid = req.id("rid")
        for refund in order.refunds:
            if refund.id == rid:
                return ApiResponse(
                    {"refund": apply_fields(render_refund(order, refund, req.ctx), req.fields)}
                )
        raise not_found()

    @staticmethod
    def _refund_parts(
        data: dict[str, Any],
    ) -> tuple[list[RefundLineRequest], Decimal | Literal["full"] | None]:
        lines: list[RefundLineRequest] = []
        raw_lines = data.get("refund_line_items") or []
        if not isinstance(raw_lines, list):
            raise bad_param("refund_line_items")
        for raw in raw_lines:
            if not isinstance(raw, dict):
                raise bad_param("refund_line_items")
            restock = raw.get("restock_type", "no_restock")
            if restock not in ("no_restock", "cancel", "return", "legacy_restock"):
                raise unprocessable({"restock_type": ["is not included in the list"]})
            location = raw.get("location_id")
            lines.append(
                RefundLineRequest(
                    _as_int(raw.get("line_item_id"), "line_item_id"),
                    _as_int(raw.get("quantity"), "quantity"),
                    "return" if restock == "legacy_restock" else restock,
                    _as_int(location, "location_id") if location is not None else None,
                )
            )
        shipping: Decimal | Literal["full"] | None = None
        raw_shipping = data.get("shipping")
        if isinstance(raw_shipping, dict):
            if _as_bool(raw_shipping.get("full_refund")):
                shipping = "full"
            elif raw_shipping.get("amount") is not None:
                shipping = _as_money(raw_shipping["amount"], "amount")
        return lines, shipping

    def calculate_refund(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        lines, shipping = self._refund_parts(req.root("refund"))
        plan = self.state.plan_refund(order, lines, shipping)
        ctx = req.ctx
        parent = next(
            (
                t
                for t in order.transactions
                if t.kind in ("sale", "capture") and t.status == "success"
            ),
            None,
        )
        suggested = min(plan.due, plan.refundable)
        refund_lines = []
        for item in plan.lines:
            line = order.line(item.line_item_id)
            unit = (line.gross - line.discount) / line.quantity
            refund_lines.append(
                {
                    "quantity": item.quantity,
                    "line_item_id": item.line_item_id,
                    "location_id": item.location_id,
                    "restock_type": item.restock_type,
                    "price": money(line.price),
                    "subtotal": money(item.subtotal),
                    "total_tax": money(item.total_tax),
                    "discounted_price": money(unit),
                    "discounted_total_price": money(unit * item.quantity),
                    "total_cart_discount_amount": money(item.discount),
                }
            )
        zero = Decimal("0")
        return ApiResponse(
            {
                "refund": {
                    "shipping": {
                        "amount": money(plan.shipping),
                        "tax": "0.00",
                        "maximum_refundable": money(plan.shipping_left),
                    },
                    "duties": [],
                    "total_duties_set": ctx.money_set(zero),
                    "additional_fees": [],
                    "total_additional_fees_set": ctx.money_set(zero),
                    "refund_line_items": refund_lines,
                    "transactions": [
                        {
                            "order_id": order.id,
                            "kind": "suggested_refund",
                            "gateway": order.gateway,
                            "parent_id": parent.id if parent else None,
                            "amount": money(suggested),
                            "currency": order.currency,
                            "maximum_refundable": money(plan.refundable),
                        }
                    ]
                    if plan.refundable > 0
                    else [],
                    "currency": order.currency,
                }
            }
        )

    def create_refund(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        data = req.root("refund")
        lines, shipping = self._refund_parts(data)
        # As on Shopify, money moves only for the transactions listed in the request.
        total = Decimal("0")
        raw_transactions = data.get("transactions") or []
        if not isinstance(raw_transactions, list):
            raise bad_param("transactions")
        for raw in raw_transactions:
            if not isinstance(raw, dict) or raw.get("kind", "refund") != "refund":
                raise unprocessable({"transactions": ["kind must be refund"]})
            total += _as_money(raw.get("amount"), "amount")
        note = data.get("note")
        refund = self.state.refund(
            order.id,
            lines,
            shipping=shipping,
            amount=total,
            note=note if isinstance(note, str) else None,
        )
        return ApiResponse({"refund": render_refund(order, refund, req.ctx)}, status=201)

    # fulfillment ---------------------------------------------------------------

    def list_fulfillment_orders(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        return ApiResponse(
            {
                "fulfillment_orders": [
                    render_fulfillment_order(fo, req.ctx)
                    for fo in self.state.fulfillment_orders_of(order)
                ]
            }
        )

    def get_fulfillment_order(self, req: ApiRequest) -> ApiResponse:
        fo = self.state.fulfillment_order(req.id())
        return ApiResponse({"fulfillment_order": render_fulfillment_order(fo, req.ctx)})

    def list_fo_fulfillments(self, req: ApiRequest) -> ApiResponse:
        fo = self.state.fulfillment_order(req.id())
        order = self.state.order(fo.order_id)
        items = [
            f
            for f in order.fulfillments
            if any(line.fulfillment_order_id == fo.id for line in f.lines)
        ]
        return ApiResponse({"fulfillments": [render_fulfillment(order, f, req.ctx) for f in items]})

    def _fulfillment_filters(self, req: ApiRequest) -> dict[str, Any]:
        filters: dict[str, Any] = {"order_id": req.id()}
        filters.update(
            _time_filters(
                req, ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
            )
        )
        since = req.q("since_id")
        if since:
            filters["since_id"] = _as_int(since, "since_id")
        return filters

    def list_fulfillments(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)

        def select(filters: dict[str, Any]) -> list[Any]:
            return [
                f
                for f in order.fulfillments
                if f.id > filters.get("since_id", 0)
                and _in_window(f.created_at, filters, "created_at")
                and _in_window(f.updated_at, filters, "updated_at")
            ]

        return _paginate(
            req,
            "fulfillments",
            "fulfillments",
            self._fulfillment_filters,
            select,
            lambda _filters: Sort(lambda f: [f.id, f.id], False),
            lambda f: render_fulfillment(order, f, req.ctx),
        )

    def count_fulfillments(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self._order(req).fulfillments)})

    def get_fulfillment(self, req: ApiRequest) -> ApiResponse:
        order = self._order(req)
        fid = req.id("fid")
        for fulfillment in order.fulfillments:
            if fulfillment.id == fid:
                return ApiResponse(
                    {
                        "fulfillment": apply_fields(
                            render_fulfillment(order, fulfillment, req.ctx), req.fields
                        )
                    }
                )
        raise not_found()

    @staticmethod
    def _tracking(raw: Any) -> TrackingInfo | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise bad_param("tracking_info")

        def text(name: str) -> str | None:
            value = raw.get(name)
            return str(value) if value not in (None, "") else None

        return TrackingInfo(number=text("number"), company=text("company"), url=text("url"))

    def create_fulfillment(self, req: ApiRequest) -> ApiResponse:
        data = req.root("fulfillment")
        groups = data.get("line_items_by_fulfillment_order")
        if not isinstance(groups, list) or not groups:
            raise bad_param("line_items_by_fulfillment_order")
        requests: list[FulfillmentRequest] = []
        for group in groups:
            if not isinstance(group, dict) or "fulfillment_order_id" not in group:
                raise bad_param("fulfillment_order_id")
            fo_id = _as_int(group["fulfillment_order_id"], "fulfillment_order_id")
            raw_items = group.get("fulfillment_order_line_items")
            items: list[tuple[int, int]] | None = None
            if raw_items is not None:
                if not isinstance(raw_items, list):
                    raise bad_param("fulfillment_order_line_items")
                items = []
                for raw in raw_items:
                    if not isinstance(raw, dict):
                        raise bad_param("fulfillment_order_line_items")
                    items.append(
                        (_as_int(raw.get("id"), "id"), _as_int(raw.get("quantity"), "quantity"))
                    )
            requests.append(FulfillmentRequest(fo_id, items))
        fulfillment = self.state.fulfill(
            requests,
            tracking=self._tracking(data.get("tracking_info")),
            notify_customer=_as_bool(data.get("notify_customer")),
            message=data.get("message") if isinstance(data.get("message"), str) else None,
            source="api",
        )
        order = self.state.order(fulfillment.order_id)
        return ApiResponse(
            {"fulfillment": render_fulfillment(order, fulfillment, req.ctx)}, status=201
        )

    def update_tracking(self, req: ApiRequest) -> ApiResponse:
        data = req.root("fulfillment")
        tracking = self._tracking(data.get("tracking_info"))
        if tracking is None:
            raise bad_param("tracking_info")
        fulfillment = self.state.update_tracking(
            req.id("fid"), tracking, notify_customer=_as_bool(data.get("notify_customer"))
        )
        order = self.state.order(fulfillment.order_id)
        return ApiResponse({"fulfillment": render_fulfillment(order, fulfillment, req.ctx)})

    def cancel_fulfillment(self, req: ApiRequest) -> ApiResponse:
        if "id" in req.params:
            order, _ = self.state.fulfillment(req.id("fid"))
            if order.id != req.id():
                raise not_found()
        fulfillment = self.state.cancel_fulfillment(req.id("fid"))
        order = self.state.order(fulfillment.order_id)
        return ApiResponse({"fulfillment": render_fulfillment(order, fulfillment, req.ctx)})

    # catalog -------------------------------------------------------------------

    def _product_filters(self, req: ApiRequest) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        try:
            ids = iter_ids(req.q_all("ids"))
        except ValueError:
            raise bad_param("ids") from None
        if ids:
            filters["ids"] = ids
        since = req.q("since_id")
        if since:
            filters["since_id"] = _as_int(since, "since_id")
        for name in ("title", "vendor", "product_type"):
            value = req.q(name)
            if value:
                filters[name] = value
        for name in ("handle", "status"):
            value = req.q(name)
            if value:
                filters[name] = [v.strip() for v in value.split(",") if v.strip()]
        filters.update(
            _time_filters(
                req, ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
            )
        )
        return filters

    def _select_products(self, filters: dict[str, Any]) -> list[Any]:
        result = []
        for product in self.state.products.values():
            if "ids" in filters and product.id not in filters["ids"]:
                continue
            if product.id <= filters.get("since_id", 0):
                continue
            if "title" in filters and filters["title"].lower() not in product.title.lower():
                continue
            if "vendor" in filters and product.vendor != filters["vendor"]:
                continue
            if "product_type" in filters and product.product_type != filters["product_type"]:
                continue
            if "handle" in filters and product.handle not in filters["handle"]:
                continue
            if "status" in filters and product.status not in filters["status"]:
                continue
            if not (
                _in_window(product.created_at, filters, "created_at")
                and _in_window(product.updated_at, filters, "updated_at")
            ):
                continue
            result.append(product)
        return result

    def list_products(self, req: ApiRequest) -> ApiResponse:
        return _paginate(
            req,
            "products",
            "products",
            self._product_filters,
            self._select_products,
            lambda _f: Sort(lambda p: [p.id, p.id], False),
            lambda p: render_product(p, req.ctx),
        )

    def count_products(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self._select_products(self._product_filters(req)))})

    def get_product(self, req: ApiRequest) -> ApiResponse:
        product = self.state.products.get(req.id())
        if product is None:
            raise not_found()
        return ApiResponse({"product": apply_fields(render_product(product, req.ctx), req.fields)})

    def list_product_variants(self, req: ApiRequest) -> ApiResponse:
        product = self.state.products.get(req.id())
        if product is None:
            raise not_found()
        variants = [self.state.variants[vid] for vid in product.variant_ids]
        return ApiResponse(
            {"variants": [apply_fields(render_variant(v, req.ctx), req.fields) for v in variants]}
        )

    def count_product_variants(self, req: ApiRequest) -> ApiResponse:
        product = self.state.products.get(req.id())
        if product is None:
            raise not_found()
        return ApiResponse({"count": len(product.variant_ids)})

    def get_variant(self, req: ApiRequest) -> ApiResponse:
        variant = self.state.variants.get(req.id("vid"))
        if variant is None or ("id" in req.params and variant.product_id != req.id()):
            raise not_found()
        return ApiResponse({"variant": apply_fields(render_variant(variant, req.ctx), req.fields)})

    # locations and inventory -----------------------------------------------------

    def list_locations(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse(
            {"locations": [render_location(loc, req.ctx) for loc in self.state.locations.values()]}
        )

    def count_locations(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self.state.locations)})

    def get_location(self, req: ApiRequest) -> ApiResponse:
        location = self.state.locations.get(req.id())
        if location is None:
            raise not_found()
        return ApiResponse({"location": render_location(location, req.ctx)})

    def _level_filters(self, req: ApiRequest) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        try:
            items = iter_ids(req.q_all("inventory_item_ids"))
            locations = iter_ids(req.q_all("location_ids"))
        except ValueError:
            raise bad_param("inventory_item_ids") from None
        if "id" in req.params:
            locations = [req.id()]
        if not items and not locations:
            raise unprocessable({"base": ["inventory_item_ids or location_ids must be present"]})
        if items:
            filters["inventory_item_ids"] = items
        if locations:
            filters["location_ids"] = locations
        filters.update(_time_filters(req, ("updated_at_min",)))
        return filters

    def _select_levels(self, filters: dict[str, Any]) -> list[Any]:
        low = filters.get("updated_at_min")
        return [
            level
            for level in self.state.levels.values()
            if (
                "inventory_item_ids" not in filters
                or level.inventory_item_id in filters["inventory_item_ids"]
            )
            and ("location_ids" not in filters or level.location_id in filters["location_ids"])
            and (low is None or level.updated_at.timestamp() >= low)
        ]

    def list_inventory_levels(self, req: ApiRequest) -> ApiResponse:
        return _paginate(
            req,
            "inventory_levels",
            "inventory_levels",
            self._level_filters,
            self._select_levels,
            lambda _f: Sort(lambda lv: [lv.inventory_item_id, lv.location_id], False),
            lambda lv: render_inventory_level(lv, req.ctx),
        )

    def list_location_levels(self, req: ApiRequest) -> ApiResponse:
        if req.id() not in self.state.locations:
            raise not_found()
        return self.list_inventory_levels(req)

    def list_inventory_items(self, req: ApiRequest) -> ApiResponse:
        try:
            ids = iter_ids(req.q_all("ids"))
        except ValueError:
            raise bad_param("ids") from None
        if not ids:
            raise bad_param("ids")
        items = [self.state.inventory_items[i] for i in ids if i in self.state.inventory_items]
        return ApiResponse(
            {
                "inventory_items": [
                    apply_fields(render_inventory_item(i, req.ctx), req.fields) for i in items
                ]
            }
        )

    def get_inventory_item(self, req: ApiRequest) -> ApiResponse:
        item = self.state.inventory_items.get(req.id())
        if item is None:
            raise not_found()
        return ApiResponse({"inventory_item": render_inventory_item(item, req.ctx)})

    def _level_body(self, req: ApiRequest, *names: str) -> dict[str, int]:
        data = req.json()
        if not isinstance(data, dict):
            raise bad_param(names[0])
        values: dict[str, int] = {}
        for name in names:
            if data.get(name) is None:
                raise bad_param(name)
            values[name] = _as_int(data[name], name)
        return values

    def set_inventory_level(self, req: ApiRequest) -> ApiResponse:
        values = self._level_body(req, "location_id", "inventory_item_id", "available")
        level = self.state.set_available(
            values["inventory_item_id"], values["location_id"], values["available"]
        )
        return ApiResponse({"inventory_level": render_inventory_level(level, req.ctx)})

    def adjust_inventory_level(self, req: ApiRequest) -> ApiResponse:
        values = self._level_body(req, "location_id", "inventory_item_id", "available_adjustment")
        level = self.state.adjust_available(
            values["inventory_item_id"], values["location_id"], values["available_adjustment"]
        )
        return ApiResponse({"inventory_level": render_inventory_level(level, req.ctx)})

    def connect_inventory_level(self, req: ApiRequest) -> ApiResponse:
        values = self._level_body(req, "location_id", "inventory_item_id")
        level, created = self.state.connect_level(
            values["inventory_item_id"], values["location_id"]
        )
        return ApiResponse(
            {"inventory_level": render_inventory_level(level, req.ctx)},
            status=201 if created else 200,
        )

    def delete_inventory_level(self, req: ApiRequest) -> ApiResponse:
        item = req.q("inventory_item_id")
        location = req.q("location_id")
        if not item:
            raise bad_param("inventory_item_id")
        if not location:
            raise bad_param("location_id")
        self.state.disconnect_level(
            _as_int(item, "inventory_item_id"), _as_int(location, "location_id")
        )
        return ApiResponse(None, status=204)

    # events ----------------------------------------------------------------------

    def _event_filters(self, req: ApiRequest) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        subject = req.q("filter")
        if subject:
            filters["filter"] = [s.strip() for s in subject.split(",") if s.strip()]
        verb = req.q("verb")
        if verb:
            filters["verb"] = verb
        since = req.q("since_id")
        if since:
            filters["since_id"] = _as_int(since, "since_id")
        filters.update(_time_filters(req, ("created_at_min", "created_at_max")))
        return filters

    def _select_events(self, filters: dict[str, Any]) -> list[Any]:
        return [
            event
            for event in self.state.events
            if ("filter" not in filters or event.subject_type in filters["filter"])
            and ("verb" not in filters or event.verb == filters["verb"])
            and event.id > filters.get("since_id", 0)
            and _in_window(event.created_at, filters, "created_at")
        ]

    def list_events(self, req: ApiRequest) -> ApiResponse:
        return _paginate(
            req,
            "events",
            "events",
            self._event_filters,
            self._select_events,
            lambda f: Sort(lambda e: [e.id, e.id], "since_id" not in f),
            lambda e: render_event(e, req.ctx),
        )

    def count_events(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self._select_events(self._event_filters(req)))})

    def get_event(self, req: ApiRequest) -> ApiResponse:
        event_id = req.id()
        for event in self.state.events:
            if event.id == event_id:
                return ApiResponse(
                    {"event": apply_fields(render_event(event, req.ctx), req.fields)}
                )
        raise not_found()

    # webhooks --------------------------------------------------------------------

    def _webhook_filters(self, req: ApiRequest) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        for name in ("address", "topic"):
            value = req.q(name)
            if value:
                filters[name] = value
        since = req.q("since_id")
        if since:
            filters["since_id"] = _as_int(since, "since_id")
        filters.update(
            _time_filters(
                req, ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max")
            )
        )
        return filters

    def _select_webhooks(self, filters: dict[str, Any]) -> list[Any]:
        return [
            w
            for w in self.state.webhooks.values()
            if ("address" not in filters or w.address == filters["address"])
            and ("topic" not in filters or w.topic == filters["topic"])
            and w.id > filters.get("since_id", 0)
            and _in_window(w.created_at, filters, "created_at")
            and _in_window(w.updated_at, filters, "updated_at")
        ]

    def list_webhooks(self, req: ApiRequest) -> ApiResponse:
        return _paginate(
            req,
            "webhooks",
            "webhooks",
            self._webhook_filters,
            self._select_webhooks,
            lambda _f: Sort(lambda w: [w.id, w.id], False),
            lambda w: render_webhook(w, req.ctx),
        )

    def count_webhooks(self, req: ApiRequest) -> ApiResponse:
        return ApiResponse({"count": len(self._select_webhooks(self._webhook_filters(req)))})

    def get_webhook(self, req: ApiRequest) -> ApiResponse:
        webhook = self.state.webhooks.get(req.id())
        if webhook is None:
            raise not_found()
        return ApiResponse({"webhook": apply_fields(render_webhook(webhook, req.ctx), req.fields)})

    @staticmethod
    def _webhook_fields(data: dict[str, Any]) -> list[str] | None:
        raw = data.get("fields")
        if raw is None:
            return None
        if isinstance(raw, str):
            return [f.strip() for f in raw.split(",") if f.strip()]
        if isinstance(raw, list) and all(isinstance(f, str) for f in raw):
            return list(raw)
        raise unprocessable({"fields": ["is invalid"]})

    def create_webhook(self, req: ApiRequest) -> ApiResponse:
        data = req.root("webhook")
        topic = data.get("topic")
        address = data.get("address")
        errors: dict[str, list[str]] = {}
        if not isinstance(topic, str) or not topic:
            errors["topic"] = ["can't be blank"]
        if not isinstance(address, str) or not address:
            errors["address"] = ["can't be blank"]
        fmt = data.get("format", "json")
        if fmt != "json":
            errors["format"] = ["is not supported by this sandbox (only json)"]
        if errors:
            raise unprocessable(errors)
        assert isinstance(topic, str)
        assert isinstance(address, str)
        webhook = self.state.create_webhook(
            topic, address, self._webhook_fields(data) or [], req.version
        )
        return ApiResponse({"webhook": render_webhook(webhook, req.ctx)}, status=201)

    def update_webhook(self, req: ApiRequest) -> ApiResponse:
        data = req.root("webhook")
        address = data.get("address")
        topic = data.get("topic")
        webhook = self.state.update_webhook(
            req.id(),
            address=address if isinstance(address, str) and address else None,
            fields=self._webhook_fields(data),
            topic=topic if isinstance(topic, str) and topic else None,
        )
        return ApiResponse({"webhook": render_webhook(webhook, req.ctx)})

    def delete_webhook(self, req: ApiRequest) -> ApiResponse:
        self.state.delete_webhook(req.id())
        return ApiResponse({})
