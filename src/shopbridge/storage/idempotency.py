"""Stored answers to write requests sent with an `Idempotency-Key` (see docs/api.md).

A key is claimed (row `in_progress`) in a short transaction of its own before the request
runs, and its answer is stored (`done`) in another one afterwards, so no transaction stays open
while the route works. The primary key (scope, key) is what makes two concurrent first requests
collide instead of both running. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.storage.tables import IdempotencyKeyRow

IN_PROGRESS = "in_progress"
DONE = "done"
RETENTION = timedelta(hours=24)
# A request that has not finished after this long is assumed lost with its process (a crash
# between claim and store); its key may then be claimed again.
ABANDONED_AFTER = timedelta(seconds=60)


class Outcome(StrEnum):
    CLAIMED = "claimed"  # run the request, then `store_answer` or `release_claim`
    REPLAY = "replay"  # the stored answer is in `Decision.row`
    IN_PROGRESS = "in_progress"  # the first request with this key is still running
    MISMATCH = "mismatch"  # the key was used for a different request


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    row: IdempotencyKeyRow


def _is_free(row: IdempotencyKeyRow, now: datetime) -> bool:
    """An expired row, or a claim whose request was abandoned, counts as absent."""
    if row.expires_at <= now:
        return True
    return row.state == IN_PROGRESS and now - row.created_at > ABANDONED_AFTER


async def _locked_row(session: AsyncSession, scope: str, key: str) -> IdempotencyKeyRow | None:
    # FOR UPDATE makes a concurrent takeover on PostgreSQL wait and then see the winner's row
    # (SQLite needs nothing: BEGIN IMMEDIATE already serialises writers).
    stmt = (
        select(IdempotencyKeyRow)
        .where(IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row: IdempotencyKeyRow | None = (await session.scalars(stmt)).one_or_none()
    return row


def _claim(row: IdempotencyKeyRow, fingerprint: str, now: datetime) -> None:
    row.fingerprint = fingerprint
    row.state = IN_PROGRESS
    row.status_code = None
    row.response_headers = None
    row.response_sealed = None
    row.created_at = now
    row.expires_at = now + RETENTION


async def claim_key(
    session: AsyncSession, *, scope: str, key: str, fingerprint: str, now: datetime
) -> Decision:
    """Claim `key` for a request with `fingerprint`, or say why the request must not run."""
    row = await _locked_row(session, scope, key)
    if row is None:
        row = IdempotencyKeyRow(scope=scope, key=key)
        _claim(row, fingerprint, now)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # A concurrent first request inserted the same key and has committed by now (the
            # insert waited for it); decide against its row like any other.
            row = await _locked_row(session, scope, key)
            if row is None:  # pragma: no cover - it was deleted in between; let the client retry
                raise
        else:
            return Decision(Outcome.CLAIMED, row)
    if _is_free(row, now):
        _claim(row, fingerprint, now)
        await session.flush()
        return Decision(Outcome.CLAIMED, row)
    # "Still running" comes first, whatever the body: the first request may yet fail and free
    # the key, so "retry later" is the only answer that holds.
    if row.state == IN_PROGRESS:
        return Decision(Outcome.IN_PROGRESS, row)
    if row.fingerprint != fingerprint:
        return Decision(Outcome.MISMATCH, row)
    return Decision(Outcome.REPLAY, row)


def _own_claim(scope: str, key: str, claimed_at: datetime) -> tuple[ColumnElement[bool], ...]:
    # `created_at` identifies this claim: if it was taken over as abandoned meanwhile, the
    # slow original must not overwrite or delete the new owner's row.
    return (
        IdempotencyKeyRow.scope == scope,
        IdempotencyKeyRow.key == key,
        IdempotencyKeyRow.state == IN_PROGRESS,
        IdempotencyKeyRow.created_at == claimed_at,
    )


async def store_answer(
    session: AsyncSession,
    *,
    scope: str,
    key: str,
    claimed_at: datetime,
    status_code: int,
    headers: dict[str, str],
    sealed_body: bytes,
) -> None:
    """Record the answer to replay; `sealed_body` is already encrypted by the caller."""
    await session.execute(
        update(IdempotencyKeyRow)
        .where(*_own_claim(scope, key, claimed_at))
        .values(
            state=DONE,
            status_code=status_code,
            response_headers=headers,
            response_sealed=sealed_body,
        )
    )


async def release_claim(
    session: AsyncSession, *, scope: str, key: str, claimed_at: datetime
) -> None:
    """Forget the claim so the client may retry with the same key (answer not worth keeping)."""
    await session.execute(delete(IdempotencyKeyRow).where(*_own_claim(scope, key, claimed_at)))


async def delete_expired_idempotency_keys(session: AsyncSession, now: datetime) -> int:
    """Periodic cleanup (run by the delivery worker): expired rows are dead weight, since a
    request with an expired key is treated as new anyway. Returns how many were deleted."""
    result = await session.execute(
        delete(IdempotencyKeyRow).where(IdempotencyKeyRow.expires_at <= now)
    )
    assert isinstance(result, CursorResult)  # a DML statement always answers with a cursor
    return result.rowcount
