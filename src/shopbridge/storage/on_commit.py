"""Work that may only happen once a session's transaction has committed.

A counter bumped inside a unit of work, or a wake-up sent from it, is wrong if the unit then
rolls back: the push intake, for one, writes a batch whole, and when that fails rolls it back
and writes the same pushes again one by one, each message in a savepoint of its own. Counting
orders as they were written counted them twice. `on_commit` runs a callback after the
outermost transaction commits, and forgets it when that transaction, or the savepoint it was
registered in (or one around that savepoint), rolls back. Releasing a savepoint is not a
commit: SQLAlchemy's `after_commit` event fires for it too, and is filtered here.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_PENDING = "shopbridge_on_commit"

Callback = Callable[[], None]


def on_commit(session: AsyncSession | Session, callback: Callback) -> None:
    """Run `callback` once the transaction `session` is in commits; never if it rolls back."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    if transaction is None:  # autocommit-style use outside a transaction: nothing to wait for
        callback()
        return
    sync.info.setdefault(_PENDING, []).append((transaction, callback))


def _inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its work still depends on the outer transaction
    for _, callback in session.info.pop(_PENDING, ()):
        callback()


def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [
        (transaction, callback)
        for transaction, callback in pending
        if not _inside(transaction, previous_transaction)
    ]


if not event.contains(Session, "after_commit", _committed):
    event.listen(Session, "after_commit", _committed)
    event.listen(Session, "after_soft_rollback", _rolled_back)
