"""`bench peak`: a flash sale end to end, measured from the platform's push to the ERP's
acknowledgement.

Topology (one machine, real processes, real HTTP everywhere)::

    K Shopify sandboxes ──orders/create webhooks──▶ ShopBridge `serve --no-sync`
      (one subprocess, or threads of                 (subprocess: push intake, outbox,
       the bench process: --sandboxes)                in-process webhook dispatcher)
                                                          │ Standard Webhooks
                                                          ▼
                                                     ERP sink (subprocess, `erp-sink`)

The bench starts everything on a fresh temporary data dir (SQLite, unless
`SHOPBRIDGE_DATABASE_URL` names another database), connects K shops through the API with an
admin key of its own, subscribes each sandbox's `orders/create` webhook to ShopBridge and one
webhook endpoint to the sink, sends a few warm-up orders through, then asks every sandbox for
its share of the burst at once (`POST /_sandbox/burst`, paced with `--rate`) and waits until
the sink holds every order (or made no progress for `drain_timeout` seconds: the rest is
`lost`). All times are `time.time()` on this machine: the sandbox records when it placed an
order and when it first sent its push, the sink when it first received the event.

- latency = first receipt at the sink - first send of the push (`latency_ms`); from the moment
  the order was placed (`latency_from_order_placed_ms`) it also counts the time a push waited
  in the sandbox's queue (a platform sends a bounded number of webhooks at once);
- throughput = orders received / (last receipt - first push sent).

The baseline is measured in the same run, after every other process stopped: a bare FastAPI
app with one route that does what any push receiver must before touching a database (read
the body, verify the Shopify HMAC, map the order to the unified model: the connector's own
`verify_push`), fed the recorded push bodies and headers through its ASGI interface.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform as host_platform
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shopbridge import __version__
from shopbridge.bench.processes import Processes as _Processes
from shopbridge.bench.processes import check_response as _check
from shopbridge.bench.processes import free_port as _free_port
from shopbridge.bench.processes import serve_sandboxes as _serve_sandboxes
from shopbridge.bench.processes import wait_http as _wait_http

SandboxHosting = Literal["process", "threads"]
DeliveryHosting = Literal["in-process", "worker"]
MAX_ORDERS_PER_SHOP = 10_000
"""A sandbox keeps the history of its last 10,000 pushes: the bench reads send times there."""
API_VERSION = "2026-10"
WARMUP_ORDERS_PER_SHOP = 2
PUSH_TOPIC = "orders/create"
BASELINE_ROUNDS = 5


@dataclass(frozen=True)
class PeakOptions:
    orders: int = 2000
    shops: int = 3
    rate: float = 0.0
    """Orders per second across all shops; 0 = every sandbox creates its share at once."""
    sandboxes: SandboxHosting = "process"
    """Where the sandboxes run: one subprocess (one event loop for all; isolated from this
    process, and the faster push source on an idle 2-CPU machine: ~470 vs ~290 pushes/s to a
    null receiver) or threads of this process (one event loop each)."""
    delivery: DeliveryHosting = "in-process"
    """Who delivers the webhooks: the `serve` process's own dispatcher, or a separate
    `shopbridge worker --no-sync --deliver` process (the API process then only takes pushes
    in; the two share the database, each on its own CPU)."""
    drain_timeout: float = 60.0
    """An order not at the sink this long after the sink last made progress is lost."""
    baseline_requests: int = 3000
    server_command: Sequence[str] = ()
    """Replaces `python` for the ShopBridge subprocess (e.g. `python -m cProfile -o F`)."""
    keep_dir: bool = False
    """Keep the temporary directory (logs, databases) and report where it is."""


# -- small helpers -------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ms(values: Sequence[float]) -> dict[str, float | None]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    return {
        "p50": r(percentile(values, 50)),
        "p95": r(percentile(values, 95)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values) if values else None),
    }


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).astimezone(UTC).timestamp()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def host_calibration_ms(rounds: int = 1_000_000) -> float:
    """CPU time of a fixed pure-Python loop, before and after the run: on a shared host the
    same build can run 15 % slower from one run to the next (and 60 % when the host is
    busy); a higher figure here says the machine, not ShopBridge, was slower."""
    started = time.process_time()
    total = 0
    for i in range(rounds):
        total += i * i
    return round((time.process_time() - started) * 1000, 1)


# -- the sandboxes -------------------------------------------------------------------------


def sandbox_specs(shops: int, run_id: str) -> list[dict[str, Any]]:
    """Options of the K sandboxes: own domain, token, app secret and random seed each."""
    return [
        {
            "access_token": f"shpat_peak_{i}_{run_id}",
            "app_secret": f"peak-app-secret-{i}-{run_id}",
            "shop_domain": f"peak-{i}-{run_id}.myshopify.com",
            "shop_name": f"Peak shop {i}",
            "seed": 0,
            "random_seed": 7000 + i,
        }
        for i in range(shops)
    ]


# -- the baseline ---------------------------------------------------------------------------


def bare_push_app(verify: Callable[[Mapping[str, str], bytes], Sequence[Any]]) -> FastAPI:
    """A bare FastAPI app that parses a push exactly like ShopBridge's intake does before
    touching the database: `verify(headers, body)` is the connector's `verify_push`."""
    app = FastAPI()

    @app.post("/push")
    async def push(request: Request) -> JSONResponse:
        messages = verify(request.headers, await request.body())
        return JSONResponse({"accepted": len(messages)})

    return app


async def _asgi_post(app: FastAPI, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/push",
        "raw_path": b"/push",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def fastapi_parse_baseline(
    samples: Sequence[tuple[Mapping[str, str], bytes]],
    *,
    shop_id: str,
    platform_shop_id: str,
    credentials: Mapping[str, str],
    requests: int,
) -> dict[str, Any]:
    """Pushes per second a bare FastAPI app parses (HMAC + JSON + mapping to the unified
    order), called through ASGI with the recorded push bodies, one after another."""
    from shopbridge.connectors import ShopContext
    from shopbridge.connectors.registry import connector_class

    connector = connector_class("shopify")(
        ShopContext(
            shop_id=shop_id, platform_shop_id=platform_shop_id, credentials=dict(credentials)
        )
    )
    try:
        app = bare_push_app(connector.verify_push)
        prepared = [
            (body, [(k.lower().encode(), v.encode()) for k, v in headers.items()])
            for headers, body in samples
        ]
        for body, headers in prepared[:50]:  # warm-up, as the real server had
            if await _asgi_post(app, body, headers) != 200:
                raise RuntimeError("the bare FastAPI app refused a recorded push")
        per_round = max(1, requests // BASELINE_ROUNDS)
        rates: list[float] = []
        for _ in range(BASELINE_ROUNDS):
            started = time.perf_counter()
            for i in range(per_round):
                body, headers = prepared[i % len(prepared)]
                await _asgi_post(app, body, headers)
            rates.append(per_round / (time.perf_counter() - started))
    finally:
        await connector.aclose()
    return {
        "fastapi_parse_per_s": round(max(rates), 1),
        "rounds_per_s": [round(rate, 1) for rate in rates],
        "requests": per_round * BASELINE_ROUNDS,
        "distinct_bodies": len(prepared),
        "method": "bare FastAPI app, one route: read body, verify Shopify HMAC, map to the "
        "unified Order (the connector's verify_push); called via ASGI in the bench process, "
        f"sequentially, no sockets, no database; best of {BASELINE_ROUNDS} rounds (other "
        "load on the machine only ever slows a round down)",
    }


# -- the run --------------------------------------------------------------------------------


@dataclass
class _Observed:
    """What one run saw, before any arithmetic."""

    shop_ids: list[str]
    created: list[list[int]]
    first_push: dict[tuple[str, str], float]
    """(shop id, platform order id) -> first send of the order's push (sandbox clock)."""
    placed: dict[tuple[str, str], float]
    """(shop id, platform order id) -> when the sandbox placed the order and queued its push."""
    arrivals: dict[tuple[str, str], float]
    """(shop id, platform order id) -> first receipt at the ERP sink (sink clock)."""
    push_starts: list[float]
    push_ends: list[float]
    push_ms: list[float]
    failed_attempts: int
    stats: dict[str, Any]
    samples: list[tuple[dict[str, str], bytes]]
    burst_started: float
    burst_created: float
    drained: float
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """Process name -> CPU seconds (user + system) it used from the burst until drained."""


async def run_peak(options: PeakOptions) -> dict[str, Any]:
    if options.shops < 1:
        raise ValueError("--shops must be at least 1")
    if options.orders < options.shops:
        raise ValueError("--orders must be at least --shops (one order per shop)")
    if options.orders > MAX_ORDERS_PER_SHOP * options.shops:
        raise ValueError(
            f"at most {MAX_ORDERS_PER_SHOP} orders per shop (the sandbox keeps that many "
            "pushes); raise --shops"
        )
    if options.rate < 0:
        raise ValueError("--rate must be 0 (burst) or more")
    workdir = Path(tempfile.mkdtemp(prefix="shopbridge-peak-"))
    specs = sandbox_specs(options.shops, secrets.token_hex(3))
    external_db = os.environ.get("SHOPBRIDGE_DATABASE_URL") or None
    try:
        procs = _Processes(workdir)
        try:
            calibration_before = host_calibration_ms()
            observed = await _observe(options, procs, specs, external_db)
        finally:
            procs.stop()  # everything else quiet before the baseline runs
        baseline = await fastapi_parse_baseline(
            observed.samples,
            shop_id=observed.shop_ids[0],
            platform_shop_id=specs[0]["shop_domain"],
            credentials={
                "access_token": specs[0]["access_token"],
                "app_secret": specs[0]["app_secret"],
            },
            requests=options.baseline_requests,
        )
    finally:
        if not options.keep_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    report = _report(options, observed, baseline, external_db, workdir)
    report["topology"]["host_calibration_ms"] = {
        "before": calibration_before,
        "after": host_calibration_ms(),
    }
    return report


async def _observe(
    options: PeakOptions, procs: _Processes, specs: list[dict[str, Any]], external_db: str | None
) -> _Observed:
    from shopbridge.delivery.signing import generate_secret

    workdir = procs.workdir
    admin_key = "sbk_peak_" + secrets.token_urlsafe(24)
    sink_secret = generate_secret()
    api_port, sink_port = _free_port(), _free_port()
    api = f"http://127.0.0.1:{api_port}"
    sink = f"http://127.0.0.1:{sink_port}"
    env = dict(os.environ)
    env["SHOPBRIDGE_DATA_DIR"] = str(workdir / "data")
    env["SHOPBRIDGE_ADMIN_KEY"] = admin_key
    env["PYTHONUNBUFFERED"] = "1"
    server_python = list(options.server_command) or [sys.executable]
    headers = {"Authorization": f"Bearer {admin_key}"}

    procs.spawn(
        "erp-sink",
        [
            *(sys.executable, "-m", "shopbridge.cli", "erp-sink"),
            *("--port", str(sink_port), "--secret", sink_secret),
            *("--store", str(workdir / "erp-sink.db"), "--allow-reset"),
        ],
        env,
    )
    split = options.delivery == "worker"
    procs.spawn(
        "shopbridge",
        [
            *server_python,
            *("-m", "shopbridge.cli", "serve", "--no-sync", "--migrate"),
            *(("--no-deliver",) if split else ()),
            *("--port", str(api_port)),
        ],
        env,
    )
    if options.sandboxes == "process":
        child = procs.spawn(
            "sandboxes",
            [sys.executable, "-m", "shopbridge.bench.peak", "sandboxes", json.dumps(specs)],
            env,
            pipe=True,
        )
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if not line:
            raise RuntimeError(f"the sandboxes did not start: {procs.log_tail('sandboxes')}")
        sandbox_urls = [str(url) for url in json.loads(line)["urls"]]
    else:
        from shopbridge.sandbox.common.runner import start_in_thread
        from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app

        for spec in specs:
            procs.threads.append(start_in_thread(create_app(ShopifySandboxOptions(**spec))))
        sandbox_urls = [server.base_url for server in procs.threads]

    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        await _wait_http(client, f"{sink}/stats", procs, "erp-sink")
        await _wait_http(client, f"{api}/readyz", procs, "shopbridge")
        if split:  # after `serve` migrated the database
            procs.spawn(
                "shopbridge-worker",
                [
                    *server_python,
                    *("-m", "shopbridge.cli", "worker", "--no-sync", "--deliver"),
                ],
                env,
            )

        # -- wiring: shops, platform webhooks, one endpoint to the ERP sink ----------------
        shop_ids: list[str] = []
        for i, (spec, url) in enumerate(zip(specs, sandbox_urls, strict=True)):
            shop = _check(
                await client.post(
                    f"{api}/v1/shops",
                    headers=headers,
                    json={
                        "platform": "shopify",
                        "platform_shop_id": spec["shop_domain"],
                        "display_name": f"bench peak {i}",
                        "credentials": {
                            "access_token": spec["access_token"],
                            "app_secret": spec["app_secret"],
                        },
                        "settings": {"base_url": url},
                    },
                ),
                "connect shop",
            )
            shop_ids.append(str(shop["id"]))
            _check(
                await client.post(
                    f"{url}/admin/api/{API_VERSION}/webhooks.json",
                    headers={"X-Shopify-Access-Token": spec["access_token"]},
                    json={
                        "webhook": {
                            "topic": PUSH_TOPIC,
                            "address": f"{api}/v1/push/shopify/{shop['id']}",
                            "format": "json",
                        }
                    },
                ),
                "subscribe sandbox webhook",
            )
        endpoint = _check(
            await client.post(
                f"{api}/v1/webhook-endpoints",
                headers=headers,
                json={
                    "url": f"{sink}/webhooks",
                    "secret": sink_secret,
                    "description": "bench peak",
                    "shop_ids": shop_ids,
                },
            ),
            "create webhook endpoint",
        )
        try:
            # -- warm-up: a few orders through the whole path, then a clean sink ----------
            warm = await _burst(client, sandbox_urls, WARMUP_ORDERS_PER_SHOP * len(specs), 0)
            await _wait_sink(client, sink, sum(len(ids) for ids in warm), 30.0)
            _check(await client.post(f"{sink}/_reset"), "reset sink")

            # -- the burst ---------------------------------------------------------------
            cpu_before = _cpu_now(procs)
            burst_started = time.time()
            created = await _burst(client, sandbox_urls, options.orders, options.rate)
            burst_created = time.time()
            await _wait_sink(client, sink, options.orders, options.drain_timeout)
            drained = time.time()
            cpu_after = _cpu_now(procs)
            stats = _check(await client.get(f"{sink}/stats"), "sink stats")

            # -- what happened, per order --------------------------------------------------
            arrivals: dict[tuple[str, str], float] = {}
            after = 0
            while True:
                page = _check(
                    await client.get(f"{sink}/events", params={"after": after, "limit": 10_000}),
                    "sink events",
                )
                for event in page["data"]:
                    key = (str(event["shop_id"]), str(event["platform_order_id"]))
                    arrivals.setdefault(key, float(event["first_received_at"]))
                if not page["data"]:
                    break
                after = int(page["next"])
            observed = _Observed(
                shop_ids=shop_ids,
                created=created,
                first_push={},
                placed={},
                arrivals=arrivals,
                push_starts=[],
                push_ends=[],
                push_ms=[],
                failed_attempts=0,
                stats=stats,
                samples=[],
                burst_started=burst_started,
                burst_created=burst_created,
                drained=drained,
                cpu_seconds={
                    name: round(cpu_after[name] - cpu_before[name], 3)
                    for name in cpu_after
                    if name in cpu_before
                },
            )
            for shop_id, url, ids in zip(shop_ids, sandbox_urls, created, strict=True):
                records = _check(
                    await client.get(
                        f"{url}/_sandbox/pushes", params={"topic": PUSH_TOPIC, "limit": 10_000}
                    ),
                    "sandbox pushes",
                )["pushes"]
                _collect_pushes(observed, shop_id, {str(i) for i in ids}, records)
            recorded = _check(
                await client.get(
                    f"{sandbox_urls[0]}/_sandbox/pushes",
                    params={"topic": PUSH_TOPIC, "limit": 200, "include_body": True},
                ),
                "sandbox push bodies",
            )["pushes"]
            observed.samples = [(dict(r["headers"]), str(r["body"]).encode()) for r in recorded]
            return observed
        finally:
            if external_db:  # leave a shared database as it was found
                await client.delete(f"{api}/v1/webhook-endpoints/{endpoint['id']}", headers=headers)
                for shop_id in shop_ids:
                    await client.post(f"{api}/v1/shops/{shop_id}/disconnect", headers=headers)


def _cpu_now(procs: _Processes) -> dict[str, float]:
    """CPU seconds so far of every subprocess and of this process (`bench`: sandboxes run here
    with `--sandboxes threads`)."""
    own = os.times()
    return {**procs.cpu_seconds(), "bench": own.user + own.system}


def _collect_pushes(
    observed: _Observed, shop_id: str, wanted: set[str], records: list[dict[str, Any]]
) -> None:
    for record in records:
        order_id = str(record["meta"]["order_id"])
        attempts = record["attempts"]
        if order_id not in wanted or not attempts:
            continue
        start = _epoch(attempts[0]["started_at"])
        key = (shop_id, order_id)
        observed.first_push[key] = min(start, observed.first_push.get(key, start))
        placed = _epoch(record["created_at"])
        observed.placed[key] = min(placed, observed.placed.get(key, placed))
        observed.push_starts.append(start)
        for attempt in attempts:
            if attempt["ok"]:
                observed.push_ms.append(float(attempt["duration_ms"]))
                observed.push_ends.append(
                    _epoch(attempt["started_at"]) + attempt["duration_ms"] / 1000
                )
            else:
                observed.failed_attempts += 1


def _report(
    options: PeakOptions,
    seen: _Observed,
    baseline: dict[str, Any],
    external_db: str | None,
    workdir: Path,
) -> dict[str, Any]:
    ordered = sum(len(ids) for ids in seen.created)
    pushed = seen.first_push
    arrived = {key: t for key, t in seen.arrivals.items() if key in pushed}
    latencies = [(arrived[key] - pushed[key]) * 1000 for key in arrived]
    from_placed = [(arrived[key] - seen.placed[key]) * 1000 for key in arrived]
    first_sent = min(pushed.values()) if pushed else seen.burst_started
    last_ack = max(arrived.values()) if arrived else seen.drained
    span = max(last_ack - first_sent, 1e-9)
    push_span = max(max(seen.push_ends, default=0.0) - min(seen.push_starts, default=0.0), 1e-9)
    orders_per_s = round(len(arrived) / span, 1) if arrived else 0.0
    database = "postgresql" if external_db and "postgres" in external_db else "sqlite"
    return {
        "scenario": "peak",
        "orders": options.orders,
        "shops": options.shops,
        "rate": options.rate or "burst",
        "orders_created": ordered,
        "orders_pushed": len(pushed),
        "orders_received": len(arrived),
        "orders_per_s": orders_per_s,
        "lost": len(pushed) - len(arrived),
        "not_pushed": ordered - len(pushed),
        "duplicates": int(seen.stats["duplicates"]),
        "events": int(seen.stats["distinct"]),
        "deliveries_received": int(seen.stats["received"]),
        "rejected_by_sink": int(seen.stats["rejected"]),
        "latency_ms": _ms(latencies),
        "latency_from_order_placed_ms": _ms(from_placed),
        "seconds": {
            "first_push_to_last_ack": round(span, 3),
            "burst_creation": round(seen.burst_created - seen.burst_started, 3),
            "waited_for_sink": round(seen.drained - seen.burst_created, 3),
        },
        "push_acks_per_s": round(len(seen.push_ms) / push_span, 1) if seen.push_ms else 0.0,
        "push_response_ms": _ms(seen.push_ms),
        "push_failed_attempts": seen.failed_attempts,
        "cpu_ms_per_order": {
            name: round(seconds * 1000 / len(arrived), 3) if arrived else None
            for name, seconds in sorted(seen.cpu_seconds.items())
        }
        | {
            "total": round(sum(seen.cpu_seconds.values()) * 1000 / len(arrived), 3)
            if arrived
            else None
        },
        "cpu_seconds": dict(sorted(seen.cpu_seconds.items())),
        "baseline": baseline,
        "ratio_to_baseline": round(orders_per_s / baseline["fastapi_parse_per_s"], 4),
        "topology": {
            "shopbridge": (
                "subprocess: shopbridge serve --no-sync (API + in-process webhook "
                f"dispatcher), {database}"
                if options.delivery == "in-process"
                else "subprocesses: shopbridge serve --no-sync --no-deliver (API, push intake) "
                f"+ shopbridge worker --no-sync --deliver (webhook dispatcher), {database}"
            ),
            "erp_sink": "subprocess: shopbridge erp-sink (SQLite store)",
            "sandboxes": f"{options.shops} Shopify sandboxes "
            + (
                "in one subprocess (one event loop)"
                if options.sandboxes == "process"
                else "as threads of the bench process"
            ),
            "bench": "this process: wiring and polling the sink during the run; the baseline "
            "after every other process stopped",
            "warmup_orders": WARMUP_ORDERS_PER_SHOP * options.shops,
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "database": database,
        "shopbridge": __version__,
        "python": host_platform.python_version(),
        "machine": host_platform.machine(),
        **({"workdir": str(workdir)} if options.keep_dir else {}),
    }


async def _burst(
    client: httpx.AsyncClient, sandboxes: Sequence[str], orders: int, rate: float
) -> list[list[int]]:
    """Every sandbox places its share at the same moment; returns the order ids per shop."""
    shares = _split(orders, len(sandboxes))
    per_shop_rate = rate / len(sandboxes) if rate > 0 else 0.0

    async def one(url: str, count: int) -> list[int]:
        if count == 0:
            return []
        answer = _check(
            await client.post(
                f"{url}/_sandbox/burst",
                json={"orders": count, "per_second": per_shop_rate},
                timeout=max(60.0, 2 * count / per_shop_rate if per_shop_rate else 60.0),
            ),
            "sandbox burst",
        )
        return [int(i) for i in answer["ids"]]

    return list(await asyncio.gather(*(one(u, n) for u, n in zip(sandboxes, shares, strict=True))))


async def _wait_sink(
    client: httpx.AsyncClient, sink: str, expected: int, stall_timeout: float
) -> int:
    """Until the sink holds `expected` distinct events, or it made no progress for
    `stall_timeout` seconds. Returns how many it holds."""
    seen = -1
    progressed = time.monotonic()
    while True:
        distinct = int(_check(await client.get(f"{sink}/stats"), "sink stats")["distinct"])
        if distinct >= expected:
            return distinct
        now = time.monotonic()
        if distinct != seen:
            seen, progressed = distinct, now
        elif now - progressed > stall_timeout:
            return distinct
        await asyncio.sleep(0.2)


def main(argv: list[str]) -> None:
    """`python -m shopbridge.bench.peak sandboxes SPECS_JSON`: the sandbox subprocess."""
    if len(argv) != 2 or argv[0] != "sandboxes":
        raise SystemExit("usage: python -m shopbridge.bench.peak sandboxes SPECS_JSON")
    specs = json.loads(argv[1])
    try:
        import uvloop

        uvloop.run(_serve_sandboxes(specs))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        asyncio.run(_serve_sandboxes(specs))


if __name__ == "__main__":
    main(sys.argv[1:])
