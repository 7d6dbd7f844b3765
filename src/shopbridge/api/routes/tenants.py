"""Tenants (operator only) and API keys (per tenant)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from shopbridge.api.deps import get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError, not_found
from shopbridge.api.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyOut,
    Me,
    Page,
    TenantCreate,
    TenantCreated,
    TenantOut,
)
from shopbridge.api.security import OPERATOR, Principal, authenticate, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.core.time import utcnow
from shopbridge.storage import tenants as tenant_store
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.tables import ApiKeyRow, TenantRow

router = APIRouter(responses=V1_ERRORS, tags=["tenants and keys"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Cursor = Annotated[str | None, Query(max_length=512, description="From `next_cursor`.")]


def tenant_out(row: TenantRow) -> TenantOut:
    return TenantOut(id=row.id, name=row.name, created_at=row.created_at)


def key_out(row: ApiKeyRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        prefix=row.key_prefix,
        scopes=list(row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _check_grantable(principal: Principal, scopes: set[str]) -> None:
    if not principal.can_grant(scopes):
        raise ProblemError(
            403,
            "insufficient-scope",
            "Insufficient scope",
            "A key can only grant scopes it holds itself.",
        )


@router.get("/me", response_model=Me, summary="The calling API key")
async def me(principal: Principal = Depends(authenticate)) -> Me:
    return Me(
        tenant_id=principal.tenant_id, key_id=principal.key_id, scopes=sorted(principal.scopes)
    )


@router.post("/tenants", response_model=TenantCreated, status_code=201, summary="Create a tenant")
async def create_tenant(
    body: TenantCreate,
    principal: Principal = require(OPERATOR),
    db: Database = Depends(get_db),
) -> TenantCreated:
    """Creates a tenant and its first admin key (returned once, in this response)."""
    # Operator work crosses tenants: the new key belongs to the new tenant, not the caller's.
    with unscoped():
        async with db.transaction() as session:
            row = await tenant_store.create_tenant(session, body.name)
            issued = await tenant_store.issue_key(
                session,
                row.id,
                name="admin",
                scopes=["admin", "pii:read"],
                created_by=principal.key_id,
            )
    return TenantCreated(
        **tenant_out(row).model_dump(),
        admin_key=ApiKeyIssued(**key_out(issued.row).model_dump(), key=issued.token),
    )


@router.get("/tenants", response_model=Page[TenantOut], summary="List tenants")
async def list_tenants(
    limit: Limit = 50,
    cursor: Cursor = None,
    _: Principal = require(OPERATOR),
    db: Database = Depends(get_db),
) -> Page[TenantOut]:
    after = decode_cursor(cursor, {"r": "tenants"})
    with unscoped():  # operator: every tenant
        async with db.read() as session:
            rows = await tenant_store.list_tenants(session, after=after, limit=limit + 1)
    data, next_cursor, has_more = page_of(rows, limit, {"r": "tenants"}, tenant_out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)


@router.get("/tenants/{tenant_id}", response_model=TenantOut, summary="Get a tenant")
async def get_tenant(
    tenant_id: IdPath,
    principal: Principal = Depends(authenticate),
    db: Database = Depends(get_db),
) -> TenantOut:
    if tenant_id != principal.tenant_id and not principal.has(OPERATOR):
        raise not_found(f"tenant {tenant_id} not found")
    # An operator may read any tenant; anyone else only reaches this for their own.
    with unscoped() if principal.has(OPERATOR) else nullcontext():
        async with db.read() as session:
            return tenant_out(await tenant_store.get_tenant(session, tenant_id))


@router.post("/api-keys", response_model=ApiKeyIssued, status_code=201, summary="Create an API key")
async def create_key(
    body: ApiKeyCreate,
    principal: Principal = require("keys:write"),
    db: Database = Depends(get_db),
) -> ApiKeyIssued:
    """The key is returned once, in this response; only its hash is stored."""
    scopes = sorted({str(scope) for scope in body.scopes})
    _check_grantable(principal, set(scopes))
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            "expires_at must be in the future.",
            errors=[
                FieldError(detail="must be in the future", pointer="#/expires_at", code="past")
            ],
        )
    async with db.transaction() as session:
        issued = await tenant_store.issue_key(
            session,
            principal.tenant_id,
            name=body.name,
            scopes=body.scopes,
            expires_at=body.expires_at,
            created_by=principal.key_id,
        )
    return ApiKeyIssued(**key_out(issued.row).model_dump(), key=issued.token)


@router.get("/api-keys", response_model=Page[ApiKeyOut], summary="List API keys")
async def list_keys(
    limit: Limit = 50,
    cursor: Cursor = None,
    principal: Principal = require("keys:read"),
    db: Database = Depends(get_db),
) -> Page[ApiKeyOut]:
    after = decode_cursor(cursor, {"r": "keys"})
    async with db.read() as session:
        rows = await tenant_store.ApiKeyRepository(session, principal.tenant_id).list(
            after=after, limit=limit + 1
        )
    data, next_cursor, has_more = page_of(rows, limit, {"r": "keys"}, key_out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)


@router.get("/api-keys/{key_id}", response_model=ApiKeyOut, summary="Get an API key")
async def get_key(
    key_id: IdPath, principal: Principal = require("keys:read"), db: Database = Depends(get_db)
) -> ApiKeyOut:
    async with db.read() as session:
        return key_out(
            await tenant_store.ApiKeyRepository(session, principal.tenant_id).get(key_id)
        )


@router.delete("/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(
    key_id: IdPath, principal: Principal = require("keys:write"), db: Database = Depends(get_db)
) -> Response:
    if key_id == principal.key_id:
        raise ProblemError(
            409,
            "conflict",
            "Conflict",
            "A key cannot revoke itself (that would lock you out); revoke it with another key.",
        )
    try:
        async with db.transaction() as session:
            await tenant_store.ApiKeyRepository(session, principal.tenant_id).revoke(key_id)
    except NotFound as exc:
        raise not_found(str(exc)) from exc
    return Response(status_code=204)
