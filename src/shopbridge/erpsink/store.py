"""Where the sample ERP receiver keeps what it was sent: one SQLite file.

Two tables, because an ERP has to tell two things apart:

* ``receipts`` - one row per accepted delivery, duplicates included. Delivery is at least
  once, so the same event can arrive several times; counting receipts shows how often.
* ``events`` - one row per distinct event id. This is what an ERP acts on: the first
  receipt of an event is processed, later ones are recognised as duplicates.

The file is opened in WAL mode with ``synchronous=NORMAL``: a commit is an append to the
write-ahead log without an fsync, which makes every write take microseconds. A committed
transaction survives a crash (or kill -9) of this process; only a power cut or operating
system crash can lose the last few commits. That is the right trade for a receiver that
answers 200 only after ``commit()`` returned: what it acknowledged is on disk as far as the
process is concerned. (Use ``synchronous=FULL`` if your ERP must survive power cuts too.)

One connection serves everything. The web app calls it straight from the event loop: a
write here is cheaper than handing it to a thread pool and back. The lock only matters
when a program uses one ``Store`` from several threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipts (
    rowid       INTEGER PRIMARY KEY,  -- arrival order; /receipts pages by it
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    order_id    TEXT,                 -- data.order.id, when the event is about an order
    version     INTEGER,              -- data.version: the order's version after the change
    received_at REAL NOT NULL         -- unix seconds (time.time())
);
CREATE TABLE IF NOT EXISTS events (
    rowid             INTEGER PRIMARY KEY,  -- order of first arrival; /events pages by it
    event_id          TEXT NOT NULL UNIQUE, -- webhook-id = body id: the deduplication key
    type              TEXT NOT NULL,
    shop_id           TEXT,
    order_id          TEXT,
    platform_order_id TEXT,
    version           INTEGER,
    first_received_at REAL NOT NULL,
    body              TEXT NOT NULL         -- the exact JSON text that was signed
);
"""

MAX_PAGE = 10_000
"""Largest page ``receipts()`` and ``events()`` return."""


class Store:
    """The receiver's SQLite file. Every method commits before it returns."""

    def __init__(self, path: str | Path) -> None:
        """Open (and create, with its folder) the SQLite file at ``path``."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread=False: the lock below serialises use, so a Store may be created
        # in one thread and used in another (as uvicorn and test clients do).
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()

    def record(self, event: dict[str, Any], body: str, received_at: float | None = None) -> bool:
        """Record one accepted delivery of ``event`` (``body`` is its JSON text).

        Returns True when this event id was seen before (a duplicate): the caller must then
        not process it again. Both rows are committed before this returns, so an
        acknowledgement sent afterwards never refers to something that could be lost.
        """
        now = time.time() if received_at is None else received_at
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        order = data.get("order")
        order = order if isinstance(order, dict) else {}
        version = data.get("version")
        event_id = str(event["id"])
        event_type = str(event["type"])
        order_id = _text(order.get("id"))
        with self._lock, self._db:  # `with self._db`: commit, or roll back on error
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO events (event_id, type, shop_id, order_id,"
                " platform_order_id, version, first_received_at, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    event_type,
                    _text(event.get("shop_id")),
                    order_id,
                    _text(order.get("platform_order_id")),
                    _int(version),
                    now,
                    body,
                ),
            ).rowcount
            self._db.execute(
                "INSERT INTO receipts (event_id, type, order_id, version, received_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (event_id, event_type, order_id, _int(version), now),
            )
        return inserted == 0

    def counts(self) -> tuple[int, int]:
        """(receipts, distinct events)."""
        with self._lock:
            row = self._db.execute(
                "SELECT (SELECT COUNT(*) FROM receipts), (SELECT COUNT(*) FROM events)"
            ).fetchone()
        return int(row[0]), int(row[1])

    def receipts(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Receipts with rowid > ``after``, in arrival order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, event_id, type, order_id, version, received_at FROM receipts"
                " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, _page(limit)),
            ).fetchall()
        keys = ("rowid", "event_id", "type", "order_id", "version", "received_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def events(self, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Distinct events with rowid > ``after``, in order of first arrival."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, event_id, type, shop_id, order_id, platform_order_id, version,"
                " first_received_at, body FROM events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, _page(limit)),
            ).fetchall()
        return [_event(row) for row in rows]

    def latest_events(self, n: int = 50) -> list[dict[str, Any]]:
        """The ``n`` most recently first-seen events, newest first, without their bodies
        (the status page shows what arrived, not buyer data)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, event_id, type, shop_id, order_id, platform_order_id, version,"
                " first_received_at FROM events ORDER BY rowid DESC LIMIT ?",
                (_page(n),),
            ).fetchall()
        return [dict(zip(_EVENT_KEYS, row, strict=True)) for row in rows]

    def reset(self) -> None:
        """Delete everything (benchmarks start from zero). Rowids start again at 1."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM receipts")
            self._db.execute("DELETE FROM events")

    def close(self) -> None:
        """Close the file (a checkpoint folds the write-ahead log back into it)."""
        with self._lock:
            self._db.close()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _page(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


_EVENT_KEYS = (
    "rowid",
    "event_id",
    "type",
    "shop_id",
    "order_id",
    "platform_order_id",
    "version",
    "first_received_at",
)


def _event(row: tuple[Any, ...]) -> dict[str, Any]:
    item = dict(zip(_EVENT_KEYS, row[:-1], strict=True))
    item["body"] = json.loads(row[-1])
    return item
