"""The operator dashboard in a real browser (headless Chromium driven by Playwright) against
real things: the app with its sync worker, stock pusher and webhook dispatcher running, two
Shopify sandboxes, and a webhook receiver.

The scenario an operator lives through on a sale day: sign in with an API key; both shops
are healthy; one platform starts answering 500; pressing "Sync now" makes the shop turn red
with the failure's explanation and the action to take; the ERP's webhook receiver was down
and its deliveries are dead letters; once it is back, "Replay" on the webhooks page delivers
them and the endpoint recovers; orders are masked for a key without `pii:read`, search
included; the stock page shows ATP and what was pushed to each listing.

Every run saves a screenshot of each page to docs/screenshots/ (linked from the README and
docs/dashboard.md), so the pictures always show the current dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.conftest import (
    ADMIN_KEY,
    CHROMIUM_ARGS,
    Receiver,
    Sandbox,
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LOCATION_ID = "71024000000"  # the sandbox's primary location
VIEWPORT = {"width": 1440, "height": 900}
WAIT_MS = 20_000

pytestmark = pytest.mark.timeout(180)


def eventually(check: Callable[[], Any], *, within: float = 20.0, what: str) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def connect(api: httpx.Client, sandbox: Sandbox, name: str) -> str:
    resp = api.post(
        "/v1/shops",
        json={
            "platform": "shopify",
            "platform_shop_id": sandbox.domain,
            "display_name": name,
            "credentials": {"access_token": sandbox.token, "app_secret": sandbox.secret},
            "settings": {
                "base_url": sandbox.base_url,
                "backfill_days": 1,
                "poll_interval_seconds": 5,
                "location_id": LOCATION_ID,
            },
        },
    )
    assert resp.status_code == 201, resp.text
    shop_id: str = resp.json()["id"]
    return shop_id


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_operator_signs_in_sees_a_shop_fail_and_replays_dead_letters(
    chromium: str,
    dashboard_server: str,
    sandboxes: tuple[Sandbox, Sandbox],
    receiver: Receiver,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    flagship, outlet = sandboxes
    api = httpx.Client(
        base_url=dashboard_server, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30
    )
    # The ERP's receiver is down from the start: the backfill's events become dead letters.
    endpoint = api.post(
        "/v1/webhook-endpoints",
        json={"url": receiver.url, "description": "ERP order import"},
    )
    assert endpoint.status_code == 201, endpoint.text
    endpoint_id = endpoint.json()["id"]
    flagship_id = connect(api, flagship, "Flagship Store")
    outlet_id = connect(api, outlet, "Outlet Store")
    # The operator's key: everything but buyer data.
    ops = api.post("/v1/api-keys", json={"name": "night shift", "scopes": ["admin"]})
    assert ops.status_code == 201, ops.text
    ops_key = ops.json()["key"]

    # Stock for the flagship's first variants; the listings are mapped by SKU and pushed.
    with httpx.Client(
        base_url=flagship.base_url, headers={"X-Shopify-Access-Token": flagship.token}
    ) as shopify:
        products = shopify.get("/admin/api/2026-07/products.json", params={"limit": 2}).json()
    skus = [v["sku"] for p in products["products"] for v in p["variants"] if v.get("sku")][:3]
    assert skus
    stock = api.put(
        "/v1/stock",
        json={
            "items": [
                {"sku": sku, "on_hand": 40 + 7 * i, "version": 1} for i, sku in enumerate(skus)
            ]
        },
    )
    assert stock.status_code == 200, stock.text
    listings = api.post(f"/v1/shops/{flagship_id}/listings/sync")
    assert listings.status_code == 200, listings.text

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(WAIT_MS)

            # -- sign in ---------------------------------------------------------------------
            page.goto(f"{dashboard_server}/")
            expect(page).to_have_url(f"{dashboard_server}/dashboard/login?next=/dashboard")
            shot(page, "login")
            page.fill("input[name=key]", "sbk_wrong_key")
            page.click("button[type=submit]")
            expect(page.get_by_test_id("login-error")).to_contain_text("not valid")
            page.fill("input[name=key]", ops_key)
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{dashboard_server}/dashboard")
            expect(page.get_by_test_id("retention")).to_contain_text("Retention: vault")
            expect(page.get_by_test_id("masked-badge")).to_be_visible()

            # -- both shops healthy, live ----------------------------------------------------
            for shop_id in (flagship_id, outlet_id):
                row = page.locator(f"[data-testid=shop-row][data-shop-id='{shop_id}']")
                expect(row).to_have_attribute("data-status", "healthy")
            expect(page.get_by_test_id("live-status")).to_contain_text("live")

            # -- the outlet's platform starts failing ----------------------------------------
            page.goto(f"{dashboard_server}/dashboard/shops/{outlet_id}")
            health = page.get_by_test_id("shop-health")
            expect(health).to_have_attribute("data-status", "healthy")
            fault = httpx.post(
                f"{outlet.base_url}/_sandbox/faults",
                json={"kind": "error", "status": 500, "count": None, "path_pattern": "orders"},
            )
            assert fault.status_code == 201, fault.text

            def pressed_until_failing() -> bool:
                if health.get_attribute("data-status") == "failing":
                    return True
                page.get_by_test_id("sync-now").click()
                expect(page.get_by_test_id("notice")).to_contain_text("Sync requested")
                # After the redirect back, the page keeps itself current: the live region
                # turns red without a reload.
                try:
                    expect(health).to_have_attribute("data-status", "failing", timeout=4000)
                except AssertionError:
                    return False
                return True

            eventually(pressed_until_failing, within=40, what="the outlet to turn red")
            expect(health.get_by_test_id("explanation").first).not_to_be_empty()
            expect(health.get_by_test_id("action").first).not_to_be_empty()
            failures = page.locator("[data-testid=failure-row]")
            expect(failures.first).to_have_attribute("data-outcome", "unavailable")
            expect(page.get_by_test_id("failures")).to_contain_text("orders.json")
            shot(page, "shop")

            page.goto(f"{dashboard_server}/dashboard")
            outlet_row = page.locator(f"[data-testid=shop-row][data-shop-id='{outlet_id}']")
            expect(outlet_row).to_have_attribute("data-status", "failing")
            expect(outlet_row.get_by_test_id("action")).not_to_be_empty()
            expect(
                page.locator(f"[data-testid=shop-row][data-shop-id='{flagship_id}']")
            ).to_have_attribute("data-status", "healthy")
            expect(page.get_by_test_id("tile-orders")).not_to_contain_text("—")
            shot(page, "overview")

            # -- webhooks: dead letters, the receiver comes back, replay -----------------------
            page.goto(f"{dashboard_server}/dashboard/webhooks")
            card = page.locator(f"[data-testid=endpoint][data-endpoint-id='{endpoint_id}']")
            expect(card).to_have_attribute("data-status", "failing")
            expect(card.get_by_test_id("replay")).to_be_visible()
            expect(card.get_by_test_id("dead-letter-table")).to_contain_text("HTTP 500")
            expect(card.get_by_test_id("dead-letter-table")).to_contain_text("ERP maintenance")
            dead = int(card.get_by_test_id("dead-letters").inner_text())
            assert dead > 0
            shot(page, "webhooks")
            receiver.failing = False
            card.get_by_test_id("replay").click()
            expect(page.get_by_test_id("notice")).to_contain_text("Replay queued")
            expect(card).to_have_attribute("data-status", "healthy")
            expect(card.get_by_test_id("dead-letters")).to_have_text("0")
            eventually(
                lambda: len({e["id"] for e in receiver.received}) >= dead,
                what="the replayed events at the receiver",
            )

            # -- orders: masked for a key without pii:read, search too ------------------------
            clear = api.get("/v1/orders", params={"limit": 50, "shop_id": flagship_id}).json()
            phones = [
                o["receiver"]["phone"]
                for o in clear["data"]
                if (o.get("receiver") or {}).get("phone")
            ]
            assert phones, "the sandbox's orders carry receiver phones"
            page.goto(f"{dashboard_server}/dashboard/orders")
            rows = page.get_by_test_id("order-row")
            expect(rows.first).to_be_visible()
            listed = page.get_by_test_id("orders").inner_text()
            assert not any(phone in listed for phone in phones), "unmasked phone on the page"
            page.fill("input[name=phone]", phones[0])
            page.click("[data-testid=order-search] button[type=submit]")
            results = page.get_by_test_id("search-results")
            expect(results.get_by_test_id("order-row").first).to_be_visible()
            masked = results.get_by_test_id("receiver-phone").first.inner_text()
            assert masked and "*" in masked and masked != phones[0]
            assert phones[0] not in page.url
            shot(page, "orders")

            # -- stock: ATP per SKU, pushed values per listing --------------------------------
            def pushed_listing() -> dict[str, Any] | None:
                found = api.get("/v1/listings", params={"sku": skus[0]}).json()["data"]
                done = [x for x in found if x["pushed_quantity"] is not None]
                return done[0] if done else None

            listing = eventually(pushed_listing, what="the stock push to the flagship")
            atp = api.get(f"/v1/stock/{skus[0]}").json()["available"]
            page.goto(f"{dashboard_server}/dashboard/stock")
            first = page.locator(f"[data-testid=sku-row][data-sku='{skus[0]}']")
            expect(first.get_by_test_id("atp")).to_have_text(str(atp))
            pushed = page.locator(f"[data-testid=listing-row][data-sku='{skus[0]}']").first
            expect(pushed.get_by_test_id("pushed")).to_have_text(str(listing["pushed_quantity"]))
            shot(page, "stock")

            # -- sign out --------------------------------------------------------------------
            page.get_by_role("button", name="Sign out").click()
            expect(page).to_have_url(f"{dashboard_server}/dashboard/login?reason=signed_out")
            page.goto(f"{dashboard_server}/dashboard/webhooks")
            expect(page).to_have_url(f"{dashboard_server}/dashboard/login?next=/dashboard/webhooks")
            # The link `make demo` prints (/#key=…) signs in and drops the key from the URL.
            page.goto(f"{dashboard_server}/#key={ops_key}")
            expect(page).to_have_url(f"{dashboard_server}/dashboard")
            expect(page.get_by_test_id("tile-shops")).to_contain_text("2")
            assert ops_key not in page.url
        finally:
            browser.close()
            api.close()
