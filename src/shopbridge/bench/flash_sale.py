"""`bench flash-sale`: one hot SKU sold on several shops at once while ShopBridge keeps their
stock in sync — does it oversell, and how fast does every listing show 0?

Topology (one machine, real processes, real HTTP everywhere)::

    N buyers (this process, asyncio) ──POST /_sandbox/checkout──▶ K Shopify sandboxes
                                                                  (one subprocess)
        sandboxes ──orders/create webhooks──▶ ShopBridge `serve --no-deliver` (subprocess:
                                               push intake reserves stock in the order's
        sandboxes ◀──inventory_levels/set──── transaction; stock pusher in-process)

Every sandbox sells the hot variant (`HOT-1`, `inventory_policy: deny`) and refuses a
checkout beyond the quantity it holds, as Shopify does. The shops start with an ample
quantity ShopBridge knows nothing about; ShopBridge pulls their listings, the ERP sets the
stock to S and the allocation rule, and the run waits until every shop shows its share. Then
all buyers are released at once, each checking out one unit on a random shop.

In the same run, the baseline: fresh sandboxes, each simply showing S (what an integration
that polls every minute and pushes `S - sold` to every shop has between two polls), the same
buyers, and that poller running for as long as the sale does.

Measured: `sold` (checkouts the shops accepted), `oversell` = max(0, sold - S), and from
timelines sampled during the sale (`GET /v1/stock/HOT-1`, the shops' quantities): when
ShopBridge's ATP reached 0 and stayed there, and when every listing showed 0 and stayed
there. `seconds_to_all_listings_zero` is the time from the first to the second, 0 when the
listings were at 0 first (with `split` each shop sells out its own share before ShopBridge
has heard of the last orders; `listings_zero_minus_stock_zero_s` keeps the sign).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform as host_platform
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from shopbridge import __version__
from shopbridge.bench.processes import Processes as _Processes
from shopbridge.bench.processes import check_response as _check
from shopbridge.bench.processes import free_port as _free_port
from shopbridge.bench.processes import serve_sandboxes as _serve_sandboxes
from shopbridge.bench.processes import wait_http as _wait_http

API_VERSION = "2026-10"
HOT_SKU = "HOT-1"
PUSH_TOPICS = ("orders/create", "orders/cancelled")
Allocation = Literal["split", "low-stock"]


@dataclass(frozen=True)
class FlashSaleOptions:
    sku_stock: int = 100
    shops: int = 3
    buyers: int = 1000
    concurrency: int = 64
    """Buyers checking out at the same moment (HTTP connections of the buyers' client)."""
    allocation: Allocation = "split"
    """`split`: the rule `allocation: split`; `low-stock`: shared allocation with
    `low_stock_threshold` = S // 2 (split only once ATP is at or below it)."""
    baseline_poll_interval: float = 60.0
    settle_timeout: float = 30.0
    """After the last buyer: how long to wait for ShopBridge and the shops to settle."""
    sample_interval: float = 0.05
    """How often ShopBridge's ATP and the shops' quantities are read during the sale."""
    open_after: float = 2.0
    """Seconds between every shop showing its share and the sale opening. Shopify's order
    times have whole seconds, and ShopBridge counts an order as sold from a listing only if
    it was placed after its last push (otherwise it allocates the unit anew)."""
    seed: int = 8
    keep_dir: bool = False


# -- small helpers -------------------------------------------------------------------------


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def sandbox_specs(shops: int, run_id: str, label: str) -> list[dict[str, Any]]:
    """Options of K sandboxes: own domain, token and secret each, no generated orders."""
    return [
        {
            "access_token": f"shpat_flash_{label}_{i}_{run_id}",
            "app_secret": f"flash-app-secret-{label}-{i}-{run_id}",
            "shop_domain": f"flash-{label}-{i}-{run_id}.myshopify.com",
            "shop_name": f"Flash {label} shop {i}",
            "seed": 0,
            "random_seed": 9100 + i,
        }
        for i in range(shops)
    ]


async def _until(
    what: str, check: Callable[[], Awaitable[bool]], within: float, interval: float = 0.1
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


# -- the shops -----------------------------------------------------------------------------


@dataclass
class Shop:
    url: str
    spec: dict[str, Any]
    variant_id: int = 0
    inventory_item_id: int = 0
    shop_id: str = ""
    """ShopBridge's id of the shop (ShopBridge run only)."""

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": str(self.spec["access_token"])}

    def admin(self, path: str) -> str:
        return f"{self.url}/admin/api/{API_VERSION}/{path}"


async def _hot_product(client: httpx.AsyncClient, shop: Shop, quantity: int) -> None:
    """The merchant adds the hot item in the shop's admin (stock at the primary location)."""
    product = _check(
        await client.post(
            f"{shop.url}/_sandbox/products",
            json={
                "title": "Flash sale item",
                "variants": [
                    {
                        "sku": HOT_SKU,
                        "price": "19.90",
                        "available": quantity,
                        "inventory_policy": "deny",
                    }
                ],
            },
        ),
        "create the hot product",
    )["product"]
    variant = product["variants"][0]
    shop.variant_id = int(variant["id"])
    shop.inventory_item_id = int(variant["inventory_item_id"])


async def _shop_quantities(client: httpx.AsyncClient, shops: Sequence[Shop]) -> list[int]:
    """What each shop shows for the hot variant right now (control API: no rate limit)."""

    async def one(shop: Shop) -> int:
        rows = _check(await client.get(f"{shop.url}/_sandbox/inventory"), "shop inventory")
        for row in rows["inventory"]:
            if int(row["variant_id"]) == shop.variant_id:
                return sum(int(level["available"]) for level in row["levels"])
        raise RuntimeError(f"{shop.url} lost the hot variant")

    return list(await asyncio.gather(*(one(s) for s in shops)))


# -- buyers --------------------------------------------------------------------------------


@dataclass
class Sale:
    started: float = 0.0
    ended: float = 0.0
    sold_per_shop: list[int] = field(default_factory=list)
    refused_per_shop: list[int] = field(default_factory=list)
    errors: int = 0
    last_sale_at: float | None = None

    @property
    def sold(self) -> int:
        return sum(self.sold_per_shop)

    @property
    def refused(self) -> int:
        return sum(self.refused_per_shop)


async def _buyers(shops: Sequence[Shop], buyers: int, concurrency: int, seed: int) -> Sale:
    """N buyers, each checking out one unit on a random shop, all released at once; at most
    `concurrency` checkouts in flight."""
    rng = random.Random(seed)  # noqa: S311 - which shop a buyer picks, reproducibly
    picks = [rng.randrange(len(shops)) for _ in range(buyers)]
    sale = Sale(sold_per_shop=[0] * len(shops), refused_per_shop=[0] * len(shops))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Event()
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:

        async def buy(index: int) -> None:
            await gate.wait()
            async with slots:
                shop = shops[index]
                try:
                    answer = await client.post(
                        f"{shop.url}/_sandbox/checkout", json={"sku": HOT_SKU, "quantity": 1}
                    )
                except httpx.HTTPError:
                    sale.errors += 1
                    return
                if answer.status_code == 201:
                    sale.sold_per_shop[index] += 1
                    sale.last_sale_at = time.time()
                elif answer.status_code == 422:
                    sale.refused_per_shop[index] += 1
                else:
                    sale.errors += 1

        tasks = [asyncio.create_task(buy(i)) for i in picks]
        await asyncio.sleep(0.05)  # every buyer is waiting at the gate
        sale.started = time.time()
        gate.set()
        await asyncio.gather(*tasks)
        sale.ended = time.time()
    return sale


# -- ShopBridge run ------------------------------------------------------------------------


@dataclass
class _Samples:
    """Timelines read during the sale: (time, ATP) from ShopBridge, (time, quantities) from
    the shops."""

    atp: list[tuple[float, int]] = field(default_factory=list)
    shops: list[tuple[float, list[int]]] = field(default_factory=list)


async def _sample(
    api: httpx.AsyncClient,
    shops_client: httpx.AsyncClient,
    api_url: str,
    shops: Sequence[Shop],
    samples: _Samples,
    stop: asyncio.Event,
    interval: float,
) -> None:
    async def atp_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                body = (await api.get(f"{api_url}/v1/stock/{HOT_SKU}")).json()
                samples.atp.append((time.time(), int(body["available"])))
            await asyncio.sleep(interval)

    async def shops_loop() -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                quantities = await _shop_quantities(shops_client, shops)
                samples.shops.append((time.time(), quantities))
            await asyncio.sleep(interval)

    await asyncio.gather(atp_loop(), shops_loop())


def _zero_since(timeline: Sequence[tuple[float, bool]]) -> float | None:
    """Start of the final stretch in which the condition held (None if it does not hold at
    the end)."""
    since: float | None = None
    for at, holds in timeline:
        if holds:
            if since is None:
                since = at
        else:
            since = None
    return since


@dataclass
class _Observed:
    sale: Sale
    samples: _Samples
    allocated: list[int]
    final: dict[str, Any]
    final_quantities: list[int]
    pushes_during_sale: int
    rule: dict[str, Any]
    settled: bool


async def _shopbridge_run(options: FlashSaleOptions, procs: _Processes) -> _Observed:
    workdir = procs.workdir
    admin_key = "sbk_flash_" + secrets.token_urlsafe(24)
    api_port = _free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env["SHOPBRIDGE_DATA_DIR"] = str(workdir / "data")
    env["SHOPBRIDGE_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'data' / 'flash.db'}"
    env["SHOPBRIDGE_ADMIN_KEY"] = admin_key
    env["PYTHONUNBUFFERED"] = "1"
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {admin_key}"}
    procs.spawn(
        "shopbridge",
        [
            *(sys.executable, "-m", "shopbridge.cli", "serve", "--no-deliver", "--migrate"),
            *("--port", str(api_port)),
        ],
        env,
    )
    specs = sandbox_specs(options.shops, secrets.token_hex(3), "sb")
    urls = await procs.sandboxes("sandboxes", specs)
    shops = [Shop(url, spec) for url, spec in zip(urls, specs, strict=True)]
    ample = max(10 * options.sku_stock, 1000)

    async with (
        httpx.AsyncClient(timeout=30, trust_env=False, headers=headers) as client,
        httpx.AsyncClient(timeout=30, trust_env=False) as shops_client,
    ):
        await _wait_http(client, f"{api}/readyz", procs, "shopbridge")
        for i, shop in enumerate(shops):
            await _hot_product(shops_client, shop, ample)
            connected = _check(
                await client.post(
                    f"{api}/v1/shops",
                    json={
                        "platform": "shopify",
                        "platform_shop_id": shop.spec["shop_domain"],
                        "display_name": f"flash sale {i}",
                        "credentials": {
                            "access_token": shop.spec["access_token"],
                            "app_secret": shop.spec["app_secret"],
                        },
                        "settings": {"base_url": shop.url},
                    },
                ),
                "connect shop",
            )
            shop.shop_id = str(connected["id"])
            for topic in PUSH_TOPICS:
                _check(
                    await shops_client.post(
                        shop.admin("webhooks.json"),
                        headers=shop.admin_headers,
                        json={
                            "webhook": {
                                "topic": topic,
                                "address": f"{api}/v1/push/shopify/{shop.shop_id}",
                                "format": "json",
                            }
                        },
                    ),
                    "subscribe the shop's webhook",
                )
        for shop in shops:
            await _sync_listings(client, api, shop.shop_id)

        # -- the ERP: allocation rule, then the stock -------------------------------------
        rule: dict[str, Any] = (
            {"allocation": "split"}
            if options.allocation == "split"
            else {"allocation": "shared", "low_stock_threshold": options.sku_stock // 2}
        )
        _check(await client.put(f"{api}/v1/stock-rules/{HOT_SKU}", json=rule), "stock rule")
        _check(
            await client.put(
                f"{api}/v1/stock",
                json={"items": [{"sku": HOT_SKU, "on_hand": options.sku_stock, "version": 1}]},
            ),
            "set stock",
        )
        by_shop: dict[str, int] = {}

        async def allocated() -> bool:
            detail = _check(await client.get(f"{api}/v1/stock/{HOT_SKU}"), "stock")
            listings = detail["listings"]
            if len(listings) != len(shops) or any(
                lst["target_quantity"] is None or lst["push_state"] != "idle" for lst in listings
            ):
                return False
            by_shop.clear()
            by_shop.update({str(lst["shop_id"]): int(lst["target_quantity"]) for lst in listings})
            shown = await _shop_quantities(shops_client, shops)
            return shown == [by_shop.get(s.shop_id) for s in shops]

        await _until("every shop to show its allocated quantity", allocated, 60.0)
        allocation = [by_shop[s.shop_id] for s in shops]
        await asyncio.sleep(options.open_after)

        # -- the sale -----------------------------------------------------------------------
        changes_before = await _stock_sets(shops_client, shops)
        samples = _Samples()
        stop = asyncio.Event()
        sampler = asyncio.create_task(
            _sample(client, shops_client, api, shops, samples, stop, options.sample_interval)
        )
        try:
            sale = await _buyers(shops, options.buyers, options.concurrency, options.seed)
            final: dict[str, Any] = {}

            async def settled() -> bool:
                final.clear()
                final.update(_check(await client.get(f"{api}/v1/stock/{HOT_SKU}"), "stock"))
                if int(final["reserved"]) < sale.sold:
                    return False  # orders still on their way to ShopBridge
                if any(lst["push_state"] != "idle" for lst in final["listings"]):
                    return False
                shown = await _shop_quantities(shops_client, shops)
                return shown == [
                    next(
                        int(lst["target_quantity"])
                        for lst in final["listings"]
                        if lst["shop_id"] == s.shop_id
                    )
                    for s in shops
                ]

            try:
                await _until("ShopBridge and the shops to settle", settled, options.settle_timeout)
                done = True
            except RuntimeError:
                done = False
            await asyncio.sleep(max(0.2, 5 * options.sample_interval))  # a last sample or two
        finally:
            stop.set()
            await sampler
        final_quantities = await _shop_quantities(shops_client, shops)
        pushes = await _stock_sets(shops_client, shops) - changes_before
    return _Observed(
        sale=sale,
        samples=samples,
        allocated=allocation,
        final=final,
        final_quantities=final_quantities,
        pushes_during_sale=pushes,
        rule=rule,
        settled=done,
    )


async def _stock_sets(client: httpx.AsyncClient, shops: Sequence[Shop]) -> int:
    """How many times clients set the hot variant's stock through the Admin API."""
    total = 0
    for shop in shops:
        body = _check(
            await client.get(f"{shop.url}/_sandbox/inventory/changes", params={"sku": HOT_SKU}),
            "stock changes",
        )
        total += sum(1 for change in body["changes"] if change["operation"] in ("set", "adjust"))
    return total


async def _sync_listings(client: httpx.AsyncClient, api: str, shop_id: str) -> None:
    """`POST /v1/shops/{id}/listings/sync`; a connector that cannot list its listings yet
    (409) is asked again every minute, for up to 10 minutes."""
    for attempt in range(11):
        response = await client.post(f"{api}/v1/shops/{shop_id}/listings/sync")
        if response.status_code != 409:
            _check(response, "listings sync")
            return
        if attempt == 10:
            break
        print(
            f"flash-sale: listings sync answered 409 ({response.text[:120]}); retrying in 60 s",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.sleep(60)
    raise RuntimeError(f"listings sync still refused: {response.text[:300]}")


# -- baseline ------------------------------------------------------------------------------


@dataclass
class _Baseline:
    sale: Sale
    polls_during_sale: int
    pushes: int


async def _baseline_run(options: FlashSaleOptions, procs: _Processes) -> _Baseline:
    """Fresh shops each showing S, the same buyers, and a naive poller: every interval it
    counts the hot SKU's units in the shops' orders and sets `S - sold` on every shop."""
    specs = sandbox_specs(options.shops, secrets.token_hex(3), "naive")
    urls = await procs.sandboxes("baseline-sandboxes", specs)
    shops = [Shop(url, spec) for url, spec in zip(urls, specs, strict=True)]
    polls = 0
    pushes = 0
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        locations: list[int] = []
        for shop in shops:
            await _hot_product(client, shop, options.sku_stock)
            body = _check(
                await client.get(shop.admin("locations.json"), headers=shop.admin_headers),
                "locations",
            )
            locations.append(int(body["locations"][0]["id"]))

        async def poll_once() -> None:
            nonlocal polls, pushes
            polls += 1
            sold = 0
            for shop in shops:
                body = _check(
                    await client.get(
                        shop.admin("orders.json"),
                        headers=shop.admin_headers,
                        params={"status": "any", "limit": 250, "fields": "line_items"},
                    ),
                    "poll orders",
                )
                sold += sum(
                    int(line["quantity"])
                    for order in body["orders"]
                    for line in order["line_items"]
                    if line.get("sku") == HOT_SKU
                )
            for shop, location in zip(shops, locations, strict=True):
                _check(
                    await client.post(
                        shop.admin("inventory_levels/set.json"),
                        headers=shop.admin_headers,
                        json={
                            "location_id": location,
                            "inventory_item_id": shop.inventory_item_id,
                            "available": max(0, options.sku_stock - sold),
                        },
                    ),
                    "push stock",
                )
                pushes += 1

        async def poller() -> None:
            # The last poll happened just before the sale: every shop shows S.
            while True:
                await asyncio.sleep(options.baseline_poll_interval)
                await poll_once()

        task = asyncio.create_task(poller())
        try:
            sale = await _buyers(shops, options.buyers, options.concurrency, options.seed)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return _Baseline(sale=sale, polls_during_sale=polls, pushes=pushes)


# -- the run -------------------------------------------------------------------------------


async def run_flash_sale(options: FlashSaleOptions) -> dict[str, Any]:
    if options.sku_stock < 1:
        raise ValueError("--sku-stock must be at least 1")
    if options.shops < 1:
        raise ValueError("--shops must be at least 1")
    if options.buyers < 1:
        raise ValueError("--buyers must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="shopbridge-flash-"))
    try:
        procs = _Processes(workdir)
        try:
            observed = await _shopbridge_run(options, procs)
        finally:
            procs.stop()  # ShopBridge and its shops quiet before the baseline runs
        procs = _Processes(workdir)
        try:
            baseline = await _baseline_run(options, procs)
        finally:
            procs.stop()
        if options.keep_dir:
            timeline = {
                "sale_started": observed.sale.started,
                "atp": observed.samples.atp,
                "shops": observed.samples.shops,
            }
            (workdir / "timeline.json").write_text(json.dumps(timeline))
    finally:
        if not options.keep_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return _report(options, observed, baseline, workdir)


def _report(
    options: FlashSaleOptions, seen: _Observed, baseline: _Baseline, workdir: Path
) -> dict[str, Any]:
    sale = seen.sale
    stock = options.sku_stock
    samples = seen.samples
    stock_zero_at = _zero_since([(at, atp == 0) for at, atp in samples.atp])
    listings_zero_at = _zero_since([(at, all(q <= 0 for q in qs)) for at, qs in samples.shops])
    seconds_to_zero: float | None = None
    lag: float | None = None
    if stock_zero_at is not None and listings_zero_at is not None:
        lag = listings_zero_at - stock_zero_at
        seconds_to_zero = max(0.0, lag)
    promised = [sum(max(0, q) for q in qs) for _, qs in samples.shops]
    base = baseline.sale
    return {
        "scenario": "flash-sale",
        "stock": stock,
        "shops": options.shops,
        "buyers": options.buyers,
        "sold": sale.sold,
        "oversell": max(0, sale.sold - stock),
        "refused_checkouts": sale.refused,
        "failed_checkouts": sale.errors,
        "seconds_of_sale": round(sale.ended - sale.started, 3),
        "seconds_to_all_listings_zero": _round(seconds_to_zero),
        "listings_zero_minus_stock_zero_s": _round(lag),
        "stock_zero_after_s": _round(
            None if stock_zero_at is None else stock_zero_at - sale.started
        ),
        "all_listings_zero_after_s": _round(
            None if listings_zero_at is None else listings_zero_at - sale.started
        ),
        "last_sale_after_s": _round(
            None if sale.last_sale_at is None else sale.last_sale_at - sale.started
        ),
        "allocation": {
            "rule": seen.rule,
            "allocated_per_shop": seen.allocated,
            "sold_per_shop": sale.sold_per_shop,
            "refused_per_shop": sale.refused_per_shop,
        },
        "shopbridge": {
            "reserved": int(seen.final.get("reserved", 0)),
            "on_hand": int(seen.final.get("on_hand", 0)),
            "available": int(seen.final.get("available", 0)),
            "listings_final": seen.final_quantities,
            "stock_pushes_during_sale": seen.pushes_during_sale,
            "settled": seen.settled,
            "max_units_shown_during_sale": max(promised, default=None),
            "samples": {"atp": len(samples.atp), "shops": len(samples.shops)},
        },
        "baseline": {
            "strategy": "poll every minute and push S - sold to every shop",
            "stock": stock,
            "sold": base.sold,
            "oversell": max(0, base.sold - stock),
            "refused_checkouts": base.refused,
            "failed_checkouts": base.errors,
            "sold_per_shop": base.sold_per_shop,
            "seconds_of_sale": round(base.ended - base.started, 3),
            "poll_interval_s": options.baseline_poll_interval,
            "polls_during_sale": baseline.polls_during_sale,
            "pushes_during_sale": baseline.pushes,
            "note": "every shop showed S when the sale began (the state right after a poll); "
            + (
                "the sale ended before the next poll"
                if baseline.polls_during_sale == 0
                else f"{baseline.polls_during_sale} poll(s) ran during the sale"
            ),
        },
        "topology": {
            "shopbridge": "subprocess: shopbridge serve --no-deliver (API, push intake "
            "reserving in the order's transaction, order sync and stock pusher in-process), "
            "SQLite in a fresh temporary directory",
            "sandboxes": f"{options.shops} Shopify sandboxes in one subprocess (one event "
            f"loop); all shops are Shopify (no Taobao sandbox in this scenario); "
            f"variant {HOT_SKU} with inventory_policy deny, checkouts beyond the shown "
            "quantity refused",
            "buyers": f"this process: {options.buyers} buyers released at once, 1 unit each "
            f"on a random shop (seed {options.seed}), at most {options.concurrency} "
            "checkouts in flight",
            "sale_opened_after_allocation_s": options.open_after,
            "baseline": "fresh sandboxes in a second subprocess after ShopBridge stopped",
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "shopbridge_version": __version__,
        "python": host_platform.python_version(),
        "machine": host_platform.machine(),
        **({"workdir": str(workdir)} if options.keep_dir else {}),
    }


def main(argv: list[str]) -> None:
    """`python -m shopbridge.bench.flash_sale sandboxes SPECS_JSON`: the sandbox process."""
    if len(argv) != 2 or argv[0] != "sandboxes":
        raise SystemExit("usage: python -m shopbridge.bench.flash_sale sandboxes SPECS_JSON")
    specs = json.loads(argv[1])
    try:
        import uvloop

        uvloop.run(_serve_sandboxes(specs))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(_serve_sandboxes(specs))


if __name__ == "__main__":
    main(sys.argv[1:])
