"""Shopify wire behaviour on a local httpx.MockTransport: URLs, auth header, error mapping,
rate-limit waits, Link pagination."""

from __future__ import annotations

import time

import httpx
import pytest

from shopbridge.connectors import (
    AuthExpired,
    MappingError,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from shopbridge.connectors.shopify import ShopifyConnector
from shopbridge.connectors.shopify.transport import (
    api_base_url,
    classify_response,
    error_reason,
    parse_call_limit,
    parse_link_header,
    parse_retry_after,
    shop_host,
)
from shopbridge.connectors.transport import CallRecord
from tests.connectors.shopify.helpers import BASE, connector, json_response, load, shop

ORDER_ID = "5501000001"


def order_body() -> dict[str, object]:
    return {"order": load("paid_unfulfilled")}


# ------------------------------------------------------------------ URLs and headers


async def test_get_order_request_shape() -> None:
    conn, sent, client = connector(lambda r: json_response(200, order_body()))
    order = await conn.get_order(ORDER_ID)
    assert order.platform_order_id == ORDER_ID
    (request,) = sent
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/orders/{ORDER_ID}.json"
    assert request.headers["X-Shopify-Access-Token"] == "shpat_test_token"
    await client.aclose()


def test_base_urls() -> None:
    assert api_base_url(shop(), "2026-07") == BASE
    assert (
        api_base_url(shop(base_url="http://127.0.0.1:8123/"), "2026-04")
        == "http://127.0.0.1:8123/admin/api/2026-04"
    )
    for shop_id in (
        "analytical-goods",
        "Analytical-Goods.myshopify.com",
        "https://analytical-goods.myshopify.com/",
    ):
        assert shop_host(shop(platform_shop_id=shop_id)) == "analytical-goods.myshopify.com"
    assert shop_host(shop(platform_shop_id="7001", shop_domain="acme")) == "acme.myshopify.com"


@pytest.mark.parametrize("shop_id", ["evil.com/x", "a b", "acme.example.com", "-acme", ""])
def test_bad_shop_domain_is_a_configuration_error(shop_id: str) -> None:
    with pytest.raises(Rejected) as info:
        ShopifyConnector(shop(platform_shop_id=shop_id))
    assert info.value.code == "configuration"


def test_api_version_setting() -> None:
    assert ShopifyConnector(shop(api_version="2026-04")).api.base_url.endswith("/2026-04")
    assert ShopifyConnector(shop(api_version="unstable")).api.base_url.endswith("/unstable")
    with pytest.raises(Rejected, match="not a Shopify version"):
        ShopifyConnector(shop(api_version="2026-13"))


async def test_missing_token_is_auth_expired_before_any_call() -> None:
    conn, sent, client = connector(
        lambda r: json_response(200, order_body()), credentials={"app_secret": "x"}
    )
    with pytest.raises(AuthExpired):
        await conn.get_order(ORDER_ID)
    assert sent == []
    await client.aclose()


async def test_non_numeric_order_id_is_not_found_without_a_call() -> None:
    conn, sent, client = connector(lambda r: json_response(200, order_body()))
    with pytest.raises(NotFound):
        await conn.get_order("../shop")
    assert sent == []
    await client.aclose()


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("status", "body", "error", "reason"),
    [
        (
            401,
            {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
            },
            AuthExpired,
            "Invalid API key",
        ),
        (
            403,
            {"errors": "[API] This action requires merchant approval for read_orders scope."},
            Rejected,
            "read_orders",
        ),
        (404, {"errors": "Not Found"}, NotFound, "Not Found"),
        (
            422,
            {
                "errors": {
                    "base": ["Line item quantity is invalid"],
                    "tracking_number": ["is blank"],
                }
            },
            Rejected,
            "Line item quantity is invalid; tracking_number: is blank",
        ),
        (422, {"errors": ["first", "second"]}, Rejected, "first; second"),
        (
            400,
            {"errors": {"page_info": "status cannot be passed when page_info is present"}},
            Rejected,
            "page_info: status cannot",
        ),
        (402, {"errors": "Unavailable Shop"}, Rejected, "frozen"),
        (423, {"errors": "Locked"}, Rejected, "locked"),
        (500, {"errors": "Internal Server Error"}, Unavailable, "Internal Server Error"),
        (502, "<html>Bad gateway</html>", Unavailable, "HTTP 502"),
        (503, {"errors": "Service Unavailable"}, Unavailable, "Service Unavailable"),
        (501, {"errors": "Not Implemented"}, Rejected, "not available on this shop"),
        (303, {}, Rejected, "redirect"),
    ],
)
async def test_status_mapping(
    status: int, body: object, error: type[Exception], reason: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return json_response(status, body)

    conn, _, client = connector(handler)
    with pytest.raises(error) as info:
        await conn.get_order(ORDER_ID)
    exc = info.value
    assert reason in str(exc)
    assert getattr(exc, "code", None) == str(status)
    assert getattr(exc, "interface", None) == "orders/{id}.json"
    if isinstance(exc, Rejected):
        assert reason in exc.reason
    await client.aclose()


async def test_429_retry_after_is_waited_out_then_success() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return json_response(
                429,
                {
                    "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."
                },
                **{"Retry-After": "0.2", "X-Shopify-Shop-Api-Call-Limit": "40/40"},
            )
        return json_response(200, order_body(), **{"X-Shopify-Shop-Api-Call-Limit": "1/40"})

    records: list[CallRecord] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    conn = ShopifyConnector(shop(), client=client, observer=records.append)
    order = await conn.get_order(ORDER_ID)
    assert order.platform_order_id == ORDER_ID
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.2
    assert [r.outcome for r in records] == ["RateLimited", "ok"]
    assert conn.api.call_limit == (1, 40)
    await client.aclose()


async def test_429_longer_than_the_wait_budget_is_raised() -> None:
    conn, sent, client = connector(
        lambda r: json_response(429, {"errors": "slow down"}, **{"Retry-After": "3600.0"})
    )
    with pytest.raises(RateLimited) as info:
        await conn.get_order(ORDER_ID)
    assert info.value.retry_after == 3600.0
    assert len(sent) == 1
    await client.aclose()


async def test_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    conn, _, client = connector(handler)
    with pytest.raises(Unavailable) as info:
        await conn.get_order(ORDER_ID)
    assert info.value.code == "timeout"
    await client.aclose()


async def test_connection_error_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    conn, _, client = connector(handler)
    with pytest.raises(Unavailable):
        await conn.get_order(ORDER_ID)
    await client.aclose()


async def test_success_with_html_body_is_unavailable() -> None:
    conn, _, client = connector(lambda r: httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(Unavailable) as info:
        await conn.get_order(ORDER_ID)
    assert info.value.code == "bad_json"
    await client.aclose()


@pytest.mark.parametrize("body", [[1, 2], {"orders": []}, {"order": "x"}])
async def test_success_with_wrong_shape_is_mapping_error(body: object) -> None:
    conn, _, client = connector(lambda r: json_response(200, body))
    with pytest.raises(MappingError):
        await conn.get_order(ORDER_ID)
    await client.aclose()


async def test_call_limit_header_caps_the_local_bucket() -> None:
    conn, _, client = connector(
        lambda r: json_response(200, order_body(), **{"X-Shopify-Shop-Api-Call-Limit": "38/40"})
    )
    await conn.get_order(ORDER_ID)
    assert conn.api.transport.bucket.tokens <= 2.0
    await client.aclose()


async def test_deprecation_and_version_notices_are_recorded_once() -> None:
    headers = {
        "X-Shopify-API-Deprecated-Reason": "https://shopify.dev/changelog/some-change",
        "X-Shopify-API-Version": "2026-10",
    }
    conn, _, client = connector(lambda r: json_response(200, order_body(), **headers))
    await conn.get_order(ORDER_ID)
    await conn.get_order(ORDER_ID)
    assert conn.api.notices == {
        "deprecated: https://shopify.dev/changelog/some-change",
        "requested API version 2026-07, served 2026-10",
    }
    await client.aclose()


# ------------------------------------------------------------------ pure helpers


def test_parse_link_header() -> None:
    header = (
        f'<{BASE}/orders.json?limit=250&page_info=eyJkaXJlY3Rpb24iOiJwcmV2In0>; rel="previous", '
        f'<{BASE}/orders.json?limit=250&page_info=eyJsYXN0X2lkIjo0NTB9>; rel="next"'
    )
    links = parse_link_header(header)
    assert links["next"].endswith("page_info=eyJsYXN0X2lkIjo0NTB9")
    assert links["previous"].endswith("page_info=eyJkaXJlY3Rpb24iOiJwcmV2In0")
    assert parse_link_header(None) == {}
    assert parse_link_header("garbage") == {}
    assert parse_link_header("<https://x/y?page_info=a>; rel=next") == {
        "next": "https://x/y?page_info=a"
    }


def test_parse_call_limit_and_retry_after() -> None:
    assert parse_call_limit("32/40") == (32, 40)
    assert parse_call_limit("x/40") is None
    assert parse_call_limit(None) is None
    assert parse_retry_after("2.0") == 2.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) == 1.0
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT") == 1.0
    assert parse_retry_after("-5") == 1.0
    assert parse_retry_after("nan") == 1.0


def test_error_reason_shapes() -> None:
    def reason(status: int, **kwargs: object) -> str:
        return error_reason(httpx.Response(status, **kwargs))  # type: ignore[arg-type]

    assert reason(422, json={"errors": {"base": ["a", "b"]}}) == "a; b"
    assert (
        reason(400, json={"error": "invalid_request", "error_description": "bad code"})
        == "bad code"
    )
    assert reason(500, text="") == "HTTP 500 Internal Server Error"
    assert len(reason(422, json={"errors": "x" * 5000})) == 500
    assert classify_response(httpx.Response(200)) is None
    assert classify_response(httpx.Response(201)) is None
