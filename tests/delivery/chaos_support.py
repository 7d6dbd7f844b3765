"""Helpers of the delivery chaos test (`test_chaos.py`): the sample ERP sink and the
`shopbridge worker` processes as real subprocesses that can be SIGKILLed, and the database
facts the test compares the sink with."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from shopbridge.storage.db import Database
from shopbridge.storage.tables import (
    OrderRow,
    OutboxEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from shopbridge.storage.webhooks import FAILED, PENDING, SUCCEEDED
from shopbridge.sync.state import read_cursor
from tests.helpers import free_port

CLI = (sys.executable, "-m", "shopbridge.cli")


def new_webhook_secret() -> str:
    """A `whsec_` secret as ShopBridge issues them (24 random bytes, base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return f"({path.name}: no output)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {path.name} ---\n" + "\n".join(text)


# -- the ERP sink -------------------------------------------------------------------------


@dataclass
class Sink:
    """`shopbridge erp-sink` in a subprocess, and a client for its read API."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhooks"

    @classmethod
    async def start(cls, directory: Path, secret: str, env: dict[str, str]) -> Sink:
        port = free_port()
        log = directory / "erp-sink.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    *CLI,
                    "erp-sink",
                    "--port",
                    str(port),
                    "--secret",
                    secret,
                    "--store",
                    str(directory / "erp-sink.db"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        sink = cls(proc, f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise AssertionError(f"the ERP sink exited at start\n{tail(log)}")
                try:
                    if (await client.get(f"{sink.base_url}/stats")).status_code == 200:
                        return sink
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        sink.stop()
        raise AssertionError(f"the ERP sink did not start within 30 s\n{tail(log)}")

    async def stats(self) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.get(f"{self.base_url}/stats")
        resp.raise_for_status()
        body: dict[str, int] = resp.json()
        return body

    async def _pages(self, path: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        after = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                resp = await client.get(
                    f"{self.base_url}{path}", params={"after": after, "limit": 5000}
                )
                resp.raise_for_status()
                page = resp.json()
                if not page["data"]:
                    return rows
                rows.extend(page["data"])
                after = int(page["next"])

    async def receipts(self) -> list[dict[str, Any]]:
        """Every accepted delivery in arrival order, duplicates included."""
        return await self._pages("/receipts")

    async def events(self) -> list[dict[str, Any]]:
        """One row per distinct event id, in order of first arrival."""
        return await self._pages("/events")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# -- workers ------------------------------------------------------------------------------


@dataclass
class WorkerSlot:
    """One `shopbridge worker` that is killed and restarted over and over; every incarnation
    appends its output to the same log file."""

    name: str
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: list[float] = field(default_factory=list)  # seconds into the chaos phase
    sync: bool = True
    _log_offset: int = 0

    def start(self, *, sync: bool = True) -> None:
        """Start an incarnation: sync and delivery, or delivery only (`--no-sync`)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.sync = sync
        args = [*CLI, "worker", "--sync" if sync else "--no-sync"]
        with self.log.open("ab") as out:
            out.write(f"=== {self.name} start #{self.starts + 1}: {args[3:]} ===\n".encode())
            out.flush()
            self._log_offset = out.tell()
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def ready(self) -> bool:
        """This incarnation has started its dispatcher (and its sync engine, if it syncs)."""
        with self.log.open("rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        return b"dispatcher_started" in text and (not self.sync or b"sync_worker_started" in text)

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            code = self.exited()
            if code is not None:
                raise AssertionError(f"{self.name} exited with {code} at start\n{tail(self.log)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not started in {timeout:g} s\n{tail(self.log)}")
            await asyncio.sleep(0.05)

    def exited(self) -> int | None:
        """The exit code when this incarnation died on its own (it should never)."""
        return None if self.proc is None else self.proc.poll()

    def kill(self, at: float) -> None:
        """SIGKILL: no cleanup, no lease release, in-flight requests cut off mid-way."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.kills.append(round(at, 2))

    def terminate(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def worker_env(
    *, database_url: str, secret_key: str, data_dir: Path, overrides: dict[str, str]
) -> dict[str, str]:
    """The parent's environment without any SHOPBRIDGE_* setting, plus this test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBRIDGE_")}
    env.update(
        SHOPBRIDGE_DATABASE_URL=database_url,
        SHOPBRIDGE_SECRET_KEY=secret_key,
        SHOPBRIDGE_DATA_DIR=str(data_dir),
        **overrides,
    )
    return env


# -- database facts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    orders: int
    events: int
    unsequenced: int
    pending: int
    succeeded: int
    failed: int
    high_water: datetime | None

    def describe(self) -> str:
        return (
            f"orders={self.orders} outbox_events={self.events} unsequenced={self.unsequenced} "
            f"deliveries pending={self.pending} succeeded={self.succeeded} failed={self.failed} "
            f"sync_high_water={self.high_water.isoformat() if self.high_water else None}"
        )


async def progress(db: Database, tenant_id: str, shop_id: str) -> Progress:
    async with db.read() as session:
        orders = await session.scalar(
            select(func.count()).select_from(OrderRow).where(OrderRow.tenant_id == tenant_id)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.tenant_id == tenant_id)
        )
        unsequenced = await session.scalar(
            select(func.count())
            .select_from(OutboxEventRow)
            .where(OutboxEventRow.dispatched_at.is_(None))
        )
        rows = await session.execute(
            select(WebhookDeliveryRow.state, func.count())
            .where(WebhookDeliveryRow.tenant_id == tenant_id)
            .group_by(WebhookDeliveryRow.state)
        )
        states = {state: int(count) for state, count in rows.all()}
        cursor = await read_cursor(session, shop_id, "orders") or {}
    high = cursor.get("high_water")
    return Progress(
        orders=int(orders or 0),
        events=int(events or 0),
        unsequenced=int(unsequenced or 0),
        pending=int(states.get(PENDING, 0)),
        succeeded=int(states.get(SUCCEEDED, 0)),
        failed=int(states.get(FAILED, 0)),
        high_water=datetime.fromisoformat(high) if high else None,
    )


@dataclass(frozen=True)
class OutboxEvent:
    id: str
    type: str
    order_id: str | None
    version: int | None
    position: int | None


async def outbox_events(db: Database, tenant_id: str) -> list[OutboxEvent]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(
                    OutboxEventRow.id,
                    OutboxEventRow.type,
                    OutboxEventRow.subject_id,
                    OutboxEventRow.subject_version,
                    OutboxEventRow.position,
                )
                .where(OutboxEventRow.tenant_id == tenant_id)
                .order_by(OutboxEventRow.seq)
            )
        ).all()
    return [OutboxEvent(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def order_versions(db: Database, tenant_id: str) -> dict[str, int]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(OrderRow.id, OrderRow.version).where(OrderRow.tenant_id == tenant_id)
            )
        ).all()
    return {r[0]: int(r[1]) for r in rows}


@dataclass(frozen=True)
class AttemptSummary:
    """What the workers recorded about their attempts (a killed worker records nothing)."""

    recorded: int
    failed: dict[str, int]  # error -> count
    acknowledged_twice: int  # deliveries with more than one recorded 2xx

    def describe(self) -> str:
        return (
            f"recorded attempts={self.recorded} failed={self.failed or '{}'} "
            f"deliveries acknowledged twice={self.acknowledged_twice}"
        )


async def attempt_summary(db: Database, tenant_id: str) -> AttemptSummary:
    async with db.read() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(WebhookAttemptRow)
            .where(WebhookAttemptRow.tenant_id == tenant_id)
        )
        errors = await session.execute(
            select(WebhookAttemptRow.error, func.count())
            .where(WebhookAttemptRow.tenant_id == tenant_id, WebhookAttemptRow.error.is_not(None))
            .group_by(WebhookAttemptRow.error)
        )
        twice = (
            select(WebhookAttemptRow.delivery_id)
            .where(
                WebhookAttemptRow.tenant_id == tenant_id,
                WebhookAttemptRow.status_code >= 200,
                WebhookAttemptRow.status_code < 300,
            )
            .group_by(WebhookAttemptRow.delivery_id)
            .having(func.count() > 1)
            .subquery()
        )
        acknowledged_twice = await session.scalar(select(func.count()).select_from(twice))
        return AttemptSummary(
            recorded=int(recorded or 0),
            failed={str(error): int(count) for error, count in errors.all()},
            acknowledged_twice=int(acknowledged_twice or 0),
        )
