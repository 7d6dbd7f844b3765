"""Chaos test of webhook delivery (issue 7): a live order stream from the Shopify sandbox,
`shopbridge worker`s SIGKILLed at random moments and restarted, the sample ERP sink
(`shopbridge erp-sink`) as the receiver.

What it proves, end to end over real processes, sockets and a real database:

* at least once: the sink ends up holding every event the outbox recorded for the tenant,
  and nothing else (its set of distinct event ids equals the outbox's), although workers
  died mid-pull, mid-sequencing, mid-send and mid-recording;
* every order's every change: per order the sink saw versions 1..N with none missing, N
  being the order's version in the database;
* per-order order: for every order the versions arrive non-decreasing, duplicates (resends
  after a kill) included, so an ERP never sees an older state after a newer one;
* nothing is dead-lettered and nothing stays pending once the workers settle.

On SQLite one worker runs (single writer); on PostgreSQL (SHOPBRIDGE_TEST_DATABASE_URL set)
two workers run concurrently and are killed independently, so leases, the sequencer lock and
claims are contended. A worker is killed a random moment after its sync has made progress
(so the sync is never starved and each incarnation adds events), half of the kills timed to
land while the sink is receiving. After its last kill a worker comes back delivery-only
(`--no-sync`): the outbox then stops growing and the test waits for delivery alone, however
slow the sync is on a busy machine. The kill schedule comes from a seed printed with the
results; set SHOPBRIDGE_CHAOS_SEED to replay one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopbridge.core.time import utcnow
from shopbridge.sandbox.common.runner import RunningServer, start_in_thread
from shopbridge.sandbox.shopify import ShopifySandboxOptions, create_app
from shopbridge.storage.crypto import SecretBox, generate_key
from shopbridge.storage.db import Database
from shopbridge.storage.migrate import upgrade
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tenants import ensure_default_tenant
from shopbridge.storage.webhooks import WebhookRepository
from shopbridge.sync.state import read_cursor
from tests.conftest import PG_ENV
from tests.delivery.chaos_support import (
    Sink,
    WorkerSlot,
    attempt_summary,
    new_webhook_secret,
    order_versions,
    outbox_events,
    progress,
    tail,
    worker_env,
)

TOKEN = "shpat_chaos_test"
APP_SECRET = "chaos-test-app-secret"
SEED_ENV = "SHOPBRIDGE_CHAOS_SEED"
SEED_ORDERS = 30
STREAM_RATE = 6.0  # about 6 new orders plus 6 status changes per second (nominal)
KILLS_PER_WORKER = (4, 5)  # wanted; more while the outbox is short of EVENT_TARGET
MAX_KILLS_PER_WORKER = 12
SECONDS_BETWEEN_KILLS = (0.2, 2.5)  # from the sync's next progress to the next kill
CHAOS_BUDGET_SECONDS = 30.0  # after this, the next kill is the last (given EVENT_TARGET)
CHAOS_HARD_CAP_SECONDS = 55.0  # after this, the next kill is the last regardless
EVENT_TARGET = 125  # outbox events wanted before the last kill (a slow sync gets more time)
STREAM_SECONDS = 20.0  # the stream stops earlier: later kills hit the catch-up and its sends
MID_DELIVERY_SHARE = 0.5  # share of kills timed to land while the sink is receiving
SETTLE_SECONDS = 45.0
MIN_EVENTS = 100
MIN_CHANGED_ORDERS = 5  # orders with more than one version: something to keep in order

WORKER_SETTINGS = {
    "SHOPBRIDGE_SYNC_LEASE_SECONDS": "2",
    "SHOPBRIDGE_SYNC_POLL_INTERVAL_SECONDS": "1",
    "SHOPBRIDGE_WEBHOOK_LEASE_SECONDS": "2",
    "SHOPBRIDGE_WEBHOOK_TIMEOUT_SECONDS": "1",
    "SHOPBRIDGE_DELIVERY_POLL_INTERVAL_SECONDS": "0.05",
    # Long enough that a delivery is never dead-lettered while the sink is up: losing an
    # event to the retry limit would hide exactly what this test looks for.
    "SHOPBRIDGE_WEBHOOK_RETRY_SCHEDULE": "0.2s,0.5s,1s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s",
    "SHOPBRIDGE_LOG_FORMAT": "json",
}


@pytest.fixture
def sandbox() -> Iterator[RunningServer]:
    server = start_in_thread(
        create_app(
            ShopifySandboxOptions(
                access_token=TOKEN,
                app_secret=APP_SECRET,
                seed=SEED_ORDERS,
                seed_days=1,
                random_seed=7,
                orders_per_second=0,  # started once the workers run
                rate_limit_bucket_size=400,  # Shopify Plus: the pull is never throttled
                rate_limit_leak_per_second=20,
            )
        )
    )
    yield server
    server.stop()


@dataclass(frozen=True)
class KillPlan:
    """One worker's kills: `wanted` of them (more if the outbox is still short), each as
    (seconds after the incarnation's sync made progress, mid-delivery?). A mid-delivery kill
    then also waits (briefly) for the sink to be receiving: deliveries come in bursts after
    each pull, and a kill between a send and its recording is the one that tests the lease
    takeover."""

    wanted: int
    kills: list[tuple[float, bool]]


def kill_plans(rng: random.Random, workers: int) -> list[KillPlan]:
    return [
        KillPlan(
            rng.randint(*KILLS_PER_WORKER),
            [
                (round(rng.uniform(*SECONDS_BETWEEN_KILLS), 2), rng.random() < MID_DELIVERY_SHARE)
                for _ in range(MAX_KILLS_PER_WORKER)
            ],
        )
        for _ in range(workers)
    ]


async def until_sync_progress(
    db: Database, shop_id: str, *, since: datetime, within: float = 4.0
) -> None:
    """Return once a pull that started after `since` has completed its window (or after
    `within` seconds). Killing only after the sync made progress keeps it from being killed
    mid-window forever while the backlog grows: each incarnation adds events to deliver."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with db.read() as session:
            cursor = await read_cursor(session, shop_id, "orders") or {}
        high = cursor.get("high_water")
        if high and datetime.fromisoformat(high) > since:
            return
        await asyncio.sleep(0.1)


async def until_deliveries_flow(sink: Sink, *, within: float = 1.5) -> None:
    """Return as soon as the sink's receipt count moves (or after `within` seconds)."""
    first = (await sink.stats())["received"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and (await sink.stats())["received"] == first:
        await asyncio.sleep(0.025)


async def set_stream(sandbox: RunningServer, rate: float) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{sandbox.base_url}/_sandbox/stream", json={"orders_per_second": rate}
        )
        resp.raise_for_status()


async def stop_stream_after(sandbox: RunningServer, seconds: float, sooner: asyncio.Event) -> None:
    """Stop the live stream after `seconds`, or once `sooner` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sooner.wait(), timeout=seconds)
    await set_stream(sandbox, 0)


def settle_logs(slots: list[WorkerSlot], sink: Sink) -> str:
    return "\n".join([*(tail(s.log, 25) for s in slots), tail(sink.log)])


def check_alive(slots: list[WorkerSlot]) -> None:
    for slot in slots:
        code = slot.exited()
        if code is not None:
            raise AssertionError(f"{slot.name} exited by itself with {code}\n{tail(slot.log)}")


async def test_sigkilled_workers_lose_nothing_and_keep_per_order_order(
    tmp_path: Path, sandbox: RunningServer, fresh_database_url: str
) -> None:
    seed = int(os.environ.get(SEED_ENV) or random.randrange(1 << 31))
    rng = random.Random(seed)
    on_pg = bool(os.environ.get(PG_ENV))
    backend = "postgresql" if on_pg else "sqlite"
    started = time.monotonic()
    key = generate_key()
    secret = new_webhook_secret()
    db = Database(fresh_database_url)
    await upgrade(db)
    env = worker_env(
        database_url=fresh_database_url,
        secret_key=key,
        data_dir=tmp_path,
        overrides=WORKER_SETTINGS,
    )
    sink = await Sink.start(tmp_path, secret, env)
    box = SecretBox.from_config(key, tmp_path / "unused.key")
    async with db.transaction() as session:
        tenant = await ensure_default_tenant(session)
        shop, _ = await ShopRepository(session, tenant.id, box).connect(
            platform="shopify",
            platform_shop_id="demo-shop.myshopify.com",
            display_name="chaos",
            credentials={"access_token": TOKEN, "app_secret": APP_SECRET},
            settings={
                "base_url": sandbox.base_url,
                "poll_interval_seconds": 1,
                "page_size": 25,
                "backfill_days": 2,
            },
        )
        await WebhookRepository(session, tenant.id, box).create(
            url=sink.webhook_url, secret=secret, description="chaos ERP sink"
        )
    tenant_id, shop_id = tenant.id, shop.id

    slots = [
        WorkerSlot(f"worker-{i + 1}", env, tmp_path / f"worker-{i + 1}.log")
        for i in range(2 if on_pg else 1)
    ]
    plans = kill_plans(rng, len(slots))
    stream_stopper: asyncio.Future[None] | None = None
    try:
        for slot in slots:
            slot.start()
        await set_stream(sandbox, STREAM_RATE)
        chaos_start = time.monotonic()
        chaos_over = asyncio.Event()
        stream_stopper = asyncio.ensure_future(
            stop_stream_after(sandbox, STREAM_SECONDS, chaos_over)
        )

        async def chaos(slot: WorkerSlot, plan: KillPlan) -> None:
            for number, (after, mid_delivery) in enumerate(plan.kills, start=1):
                await slot.wait_ready()
                await until_sync_progress(db, shop_id, since=utcnow())
                await asyncio.sleep(after)
                check_alive([slot])
                if mid_delivery:
                    await until_deliveries_flow(sink)
                elapsed = time.monotonic() - chaos_start
                last = (
                    number == len(plan.kills)
                    or elapsed > CHAOS_HARD_CAP_SECONDS
                    or (
                        (number >= plan.wanted or elapsed > CHAOS_BUDGET_SECONDS)
                        and (await progress(db, tenant_id, shop_id)).events >= EVENT_TARGET
                    )
                )
                slot.kill(elapsed)
                # After its last kill a worker comes back delivery-only: the outbox stops
                # growing once every worker is past its last kill, whatever the sync's pace.
                slot.start(sync=not last)
                if last:
                    return

        await asyncio.gather(*(chaos(slot, plan) for slot, plan in zip(slots, plans, strict=True)))
        chaos_over.set()  # the stream stops now if it still runs
        chaos_seconds = time.monotonic() - chaos_start
        await stream_stopper

        # The workers now running (delivery only, each restarted after its last kill) must
        # settle: every event the outbox holds is sequenced and delivered.
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            check_alive(slots)
            state = await progress(db, tenant_id, shop_id)
            sink_stats = await sink.stats()
            if (
                state.unsequenced == 0
                and state.pending == 0
                and sink_stats["distinct"] == state.events
            ):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"[{backend}, seed {seed}] not settled within {SETTLE_SECONDS:g} s after "
                    f"the last kill: {state.describe()} sink={sink_stats}\n"
                    f"{settle_logs(slots, sink)}"
                )
            await asyncio.sleep(0.25)
        settle_seconds = time.monotonic() - chaos_start - chaos_seconds
        for slot in slots:
            slot.terminate()

        events = await outbox_events(db, tenant_id)
        versions = await order_versions(db, tenant_id)
        received = await sink.events()
        receipts = await sink.receipts()
        sink_stats = await sink.stats()
        final = await progress(db, tenant_id, shop_id)
        attempts = await attempt_summary(db, tenant_id)
    finally:
        if stream_stopper is not None:
            stream_stopper.cancel()
        for slot in slots:
            slot.terminate()
        sink.stop()
        await db.dispose()

    label = f"[{backend}, {len(slots)} worker(s), seed {seed}]"
    duplicates = sink_stats["received"] - sink_stats["distinct"]
    changed = sum(1 for v in versions.values() if v > 1)
    types = Counter(e.type for e in events)
    skipped = sum(s.log.read_text().count("webhook_claim_expired_before_send") for s in slots)
    print(
        f"\n{label} kills at {[s.kills for s in slots]} over {chaos_seconds:.1f} s, settled "
        f"in {settle_seconds:.1f} s, total {time.monotonic() - started:.1f} s\n"
        f"  orders={len(versions)} (changed: {changed}) events={len(events)} {dict(types)} "
        f"receipts={len(receipts)} duplicates={duplicates} rejected={sink_stats['rejected']}\n"
        f"  {attempts.describe()} sends skipped on an expired claim={skipped}\n"
        f"  logs: {tmp_path}"
    )
    assert all(len(s.kills) >= 2 for s in slots), f"{label} too few kills: {slots}"

    # Every event the outbox recorded reached the sink, and nothing else did.
    order_events = [e for e in events if e.type.startswith("order.")]
    assert len(order_events) > MIN_EVENTS, f"{label} too few events: {len(order_events)}"
    assert all(e.position is not None for e in events), f"{label} unsequenced events remain"
    outbox_ids = {e.id for e in events}
    sink_ids = {r["event_id"] for r in received}
    assert len(sink_ids) == len(received)
    assert sink_ids == outbox_ids, (
        f"{label} lost: {sorted(outbox_ids - sink_ids)[:10]} "
        f"({len(outbox_ids - sink_ids)}), unknown: {sorted(sink_ids - outbox_ids)[:10]}"
    )
    assert {r["event_id"] for r in receipts} == outbox_ids
    assert sink_stats["rejected"] == 0, f"{label} the sink rejected deliveries: {sink_stats}"
    assert (final.pending, final.failed) == (0, 0), f"{label} {final.describe()}"
    assert final.succeeded == len(events), f"{label} {final.describe()}"

    # What the sink stored about each order event is what the outbox recorded.
    by_id = {e.id: e for e in order_events}
    order_receipts = [r for r in receipts if r["event_id"] in by_id]
    mismatched = [
        r
        for r in order_receipts
        if (r["order_id"], r["version"])
        != (by_id[r["event_id"]].order_id, by_id[r["event_id"]].version)
    ]
    assert not mismatched, f"{label} receipts disagree with the outbox: {mismatched[:5]}"

    # Per order: versions 1..N (N = the order's version), arriving in non-decreasing order
    # with duplicates included.
    arrivals: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for receipt in order_receipts:
        arrivals[receipt["order_id"]].append(receipt)
    assert set(arrivals) == set(versions), f"{label} orders without events, or unknown orders"
    violations: list[str] = []
    gaps: list[str] = []
    for order_id, seen in arrivals.items():
        sequence = [r["version"] for r in seen]
        for before, after in itertools.pairwise(seen):
            if after["version"] < before["version"]:
                violations.append(
                    f"{order_id}: v{after['version']} ({after['event_id']}, receipt "
                    f"{after['rowid']}) after v{before['version']} ({before['event_id']}, "
                    f"receipt {before['rowid']}); arrivals {sequence}"
                )
        if set(sequence) != set(range(1, versions[order_id] + 1)):
            gaps.append(f"{order_id}: got {sorted(set(sequence))}, version {versions[order_id]}")
    assert not violations, f"{label} per-order order violated:\n" + "\n".join(violations[:10])
    assert not gaps, f"{label} versions missing:\n" + "\n".join(gaps[:10])
    assert changed >= MIN_CHANGED_ORDERS, f"{label} only {changed} orders changed after creation"
