"""Tenant scoping at the storage layer: a forgotten `WHERE tenant_id = …` cannot leak rows.

Every repository already filters by tenant explicitly. This module is the second line of
defence underneath them: while a tenant is *bound* to the current context (API
authentication binds the caller's tenant for the rest of the request), every ORM statement
run through a `Session` is narrowed to that tenant, and writing a row of another tenant is
refused as the programming bug it is:

* SELECT, and ORM-enabled UPDATE / DELETE, get a `with_loader_criteria` option that adds
  `tenant_id = <tenant>` for every mapped class with a `tenant_id` column wherever it occurs
  in the statement: joins, subqueries, aliases, `session.get()`, relationship loads. A
  statement that misses its tenant filter then sees (or touches) the caller's rows only:
  another tenant's object looks missing, which the API reports as 404 anyway. Bulk UPDATE /
  DELETE by primary key (which SQLAlchemy runs without loader criteria) is checked to name
  only the tenant's rows.
* A `before_flush` guard refuses to INSERT, UPDATE or DELETE an object whose `tenant_id` is
  not the bound tenant, and ORM-enabled `insert()` / `update()` statements are checked for
  the same in their values and parameters (`TenantScopeViolation`, a 500 in the API: such a
  write is never legitimate inside a request scoped to one tenant).

Nothing is scoped while no tenant is bound: background workers (sync engine, dispatcher,
stock pusher, shipments), the CLI, migrations and the unauthenticated push intake never bind
one and work across tenants as before. Code inside a tenant-bound request that legitimately
crosses tenants (the operator routes, the API-key lookup of authentication) says so with
`unscoped()`.

The scope is a `ContextVar`, so it follows the asyncio task that set it: a task created
while a tenant is bound inherits it (`asyncio.create_task` copies the context), which is why
work that serves every tenant must be started outside request handling or under
`unscoped()`. Raw SQL (`text()`) and Core statements on `Table` objects (`OrderRow.__table__`),
on a session or a connection, name no mapped class and are not scoped: the request path
should not query that way.

Cost: one option per statement, built once per tenant; about 30-40 µs per ORM statement
(measured on a primary-key SELECT, SQLite and PostgreSQL), compiled statements shared by all
tenants.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, inspect, select, true, tuple_
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.sql.base import ExecutableOption
from sqlalchemy.sql.elements import BindParameter, ClauseElement, ColumnElement

from shopbridge.storage.tables import Base

TENANT_COLUMN = "tenant_id"

_tenant: ContextVar[str | None] = ContextVar("shopbridge_scope_tenant", default=None)


class TenantScopeViolation(RuntimeError):
    """A write of another tenant's row while a tenant is bound: a bug in the caller, never a
    condition to handle. Use `unscoped()` where crossing tenants is intended."""


def current_tenant() -> str | None:
    """The tenant the current context is scoped to, or None (unscoped)."""
    return _tenant.get()


def bind_tenant(tenant_id: str) -> None:
    """Scope the rest of the current context (the API request's task) to `tenant_id`.

    Deliberately not reset: it is called from the authentication dependency, and the request
    (including a long-poll, a streamed body or background tasks that run after the response)
    must stay scoped until it ends. Each request runs in a task of its own, so the binding
    ends with it and never reaches another request or a worker started at start-up."""
    _tenant.set(tenant_id)


@contextmanager
def tenant_scope(tenant_id: str) -> Iterator[None]:
    """Scope a block to `tenant_id` (tests, scripts acting for one tenant)."""
    token = _tenant.set(tenant_id)
    try:
        yield
    finally:
        _tenant.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """The explicit escape hatch: no tenant scoping inside the block.

    For the few places that legitimately cross tenants from inside a tenant-bound request:
    operator routes (creating a tenant issues a key of *that* tenant), and system
    bookkeeping shared by every tenant. Keep the block as small as the work that needs it."""
    token = _tenant.set(None)
    try:
        yield
    finally:
        _tenant.reset(token)


# --- what is scoped -------------------------------------------------------------------------

_scoped: tuple[tuple[type[Any], ...], frozenset[Table], int] | None = None


def _refresh_scoped() -> tuple[tuple[type[Any], ...], frozenset[Table], int]:
    global _scoped
    mappers = Base.registry.mappers
    if _scoped is None or _scoped[2] != len(mappers):
        # Recomputed only when the registry grows (all tables are declared in one module, so
        # in practice: once).
        classes = tuple(
            sorted(
                (m.class_ for m in mappers if TENANT_COLUMN in m.columns),
                key=lambda cls: cls.__name__,
            )
        )
        tables = frozenset(
            table for cls in classes if isinstance(table := cls.__mapper__.local_table, Table)
        )
        _scoped = (classes, tables, len(mappers))
        _criteria.cache_clear()
    return _scoped


def scoped_classes() -> tuple[type[Any], ...]:
    """Every mapped class with a `tenant_id` column: the ones narrowed to the bound tenant."""
    return _refresh_scoped()[0]


def _tenant_criterion(entity: Any, tenant: BindParameter[str]) -> ColumnElement[bool]:
    """`entity.tenant_id == tenant` for scoped classes (and their aliases), no criterion for
    the rest (tenants, counters, data keys, ...)."""
    info = inspect(entity, raiseerr=False)
    mapper = getattr(info, "mapper", None)
    if mapper is not None and mapper.class_ in scoped_classes():
        return cast("ColumnElement[bool]", getattr(entity, TENANT_COLUMN) == tenant)
    return true()


@lru_cache(maxsize=4096)
def _criteria(tenant_id: str) -> ExecutableOption:
    """The option for one tenant, built once per tenant.

    One option on `Base` (applies to every mapped class) rather than one per scoped class:
    every option is coerced and hashed into the statement's cache key on *each* execution,
    and ~20 of them doubled the cost of a simple SELECT. The criterion is a lambda
    SQLAlchemy analyses once by its code; the tenant is a bound parameter, so every tenant
    shares one compiled statement, and the lambda runs per entity only on a compile."""
    tenant: BindParameter[str] = bindparam("shopbridge_scope_tenant", tenant_id)
    return with_loader_criteria(
        Base, lambda entity: _tenant_criterion(entity, tenant), include_aliases=True
    )


# --- the hooks ------------------------------------------------------------------------------


def _on_execute(state: ORMExecuteState) -> None:
    tenant = _tenant.get()
    if tenant is None:
        return
    if state.is_insert or state.is_update:
        _check_statement_writes(state, tenant)
    if state.is_executemany and (state.is_update or state.is_delete):
        _check_bulk_by_primary_key(state)
    if state.is_column_load or state.is_relationship_load:
        # Refreshing attributes of an object already loaded (under this scope, or explicitly
        # unscoped) must not make it vanish; relationship loads get the criteria propagated
        # from the statement that loaded their parent.
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(_criteria(tenant))


def _check_statement_writes(state: ORMExecuteState, tenant: str) -> None:
    """`insert(Row).values(...)`, `insert(Row)` with a parameter list (bulk), and
    `update(Row).values(tenant_id=...)` bypass the unit of work: check their values."""
    table = getattr(state.statement, "table", None)
    if table is None or table not in _refresh_scoped()[1]:
        return
    for value in _written_tenant_ids(state):
        if value != tenant:
            raise TenantScopeViolation(
                f"refusing to write a {table.name} row of tenant {value!r} while scoped to "
                f"{tenant!r}; use shopbridge.storage.scoping.unscoped() if this is intended"
            )


def _check_bulk_by_primary_key(state: ORMExecuteState) -> None:
    """`session.execute(update(Row), [{pk..., values...}, ...])` (bulk by primary key) ignores
    loader criteria, so it could write another tenant's row by id. Check up front that every
    row it names is visible in this scope (one SELECT, through this same hook, so scoped); a
    row that is not is another tenant's, or missing, which bulk UPDATE refuses anyway."""
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ not in scoped_classes():
        return
    cls = mapper.class_
    keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    wanted = {tuple(row.get(key) for key in keys) for row in _parameter_rows(state)}
    columns = [getattr(cls, key) for key in keys]
    where = (
        columns[0].in_([ident[0] for ident in wanted])
        if len(columns) == 1
        else tuple_(*columns).in_(list(wanted))
    )
    seen = {tuple(row) for row in state.session.execute(select(*columns).where(where))}
    if missing := wanted - seen:
        named = sorted(str(ident[0] if len(ident) == 1 else ident) for ident in missing)
        raise TenantScopeViolation(
            f"refusing a bulk {'UPDATE' if state.is_update else 'DELETE'} of {cls.__name__} "
            f"{named[:3]}: not rows of tenant {_tenant.get()!r}; use "
            "shopbridge.storage.scoping.unscoped() if this is intended"
        )


def _written_tenant_ids(state: ORMExecuteState) -> Iterator[Any]:
    statement = state.statement
    for values in (getattr(statement, "_values", None), *_multi(statement)):
        if values:
            found, value = _tenant_value(values)
            if found:
                yield value
    for row in _parameter_rows(state):
        if TENANT_COLUMN in row:
            yield row[TENANT_COLUMN]


def _parameter_rows(state: ORMExecuteState) -> Sequence[Mapping[str, Any]]:
    params = state.parameters
    if isinstance(params, Mapping):
        return [params]
    return [row for row in params or () if isinstance(row, Mapping)]


def _multi(statement: Any) -> Iterator[Mapping[Any, Any]]:
    for group in getattr(statement, "_multi_values", None) or ():
        for values in group:
            if isinstance(values, Mapping):
                yield values


def _tenant_value(values: Mapping[Any, Any]) -> tuple[bool, Any]:
    for key, value in values.items():
        name = key if isinstance(key, str) else getattr(key, "key", None)
        if name == TENANT_COLUMN:
            if isinstance(value, BindParameter):
                return True, value.value
            # A SQL expression (e.g. copied from another column) cannot be checked here.
            sql = isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")
            return not sql, value
    return False, None


def _before_flush(session: Session, _flush_context: UOWTransaction, _instances: object) -> None:
    tenant = _tenant.get()
    if tenant is None:
        return
    classes = scoped_classes()
    for kind, objects in (
        ("insert", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            if not isinstance(obj, classes):
                continue
            history = get_history(obj, TENANT_COLUMN)
            values = [*history.added, *history.unchanged, *history.deleted]
            if not values or any(v != tenant for v in values):
                raise TenantScopeViolation(
                    f"refusing to {kind} {type(obj).__name__} of tenant "
                    f"{values[0] if values else None!r} while scoped to {tenant!r}; use "
                    "shopbridge.storage.scoping.unscoped() if this is intended"
                )


def install() -> None:
    """Register the hooks on every ORM `Session` (the sync sessions inside `AsyncSession`
    included), once per process; idempotent. Called by `shopbridge.storage.db`."""
    if not event.contains(Session, "do_orm_execute", _on_execute):
        event.listen(Session, "do_orm_execute", _on_execute)
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


__all__ = [
    "TenantScopeViolation",
    "bind_tenant",
    "current_tenant",
    "install",
    "scoped_classes",
    "tenant_scope",
    "unscoped",
]
