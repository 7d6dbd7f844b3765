"""First-start bootstrap: the default tenant and its admin key.

With `SHOPBRIDGE_ADMIN_KEY` set the key is known in advance (scripts, tests, containers);
otherwise a key is generated once, when the default tenant is created, and printed once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from shopbridge.api.security import BOOTSTRAP_SCOPES
from shopbridge.storage import tenants as tenant_store
from shopbridge.storage.db import Database

MIN_ADMIN_KEY_LENGTH = 24


class BootstrapError(ValueError):
    """The configured admin key cannot be used."""


@dataclass(frozen=True)
class BootstrapResult:
    tenant_id: str
    generated_admin_key: str | None  # only when a key was generated now; show it once


def check_admin_key(admin_key: str | None) -> None:
    if admin_key is not None and (
        len(admin_key) < MIN_ADMIN_KEY_LENGTH or not admin_key.isprintable() or " " in admin_key
    ):
        raise BootstrapError(
            f"SHOPBRIDGE_ADMIN_KEY must be at least {MIN_ADMIN_KEY_LENGTH} printable characters "
            "without spaces (try: python -c 'import secrets; print(\"sbk_\" + secrets.token_urlsafe(30))')"
        )


async def bootstrap(db: Database, admin_key: str | None) -> BootstrapResult:
    check_admin_key(admin_key)
    try:
        return await _bootstrap_once(db, admin_key)
    except IntegrityError:
        # Another process bootstrapped at the same moment; its tenant and key now exist.
        return await _bootstrap_once(db, admin_key)


async def _bootstrap_once(db: Database, admin_key: str | None) -> BootstrapResult:
    async with db.transaction() as session:
        tenant = await tenant_store.ensure_default_tenant(session)
        generated: str | None = None
        if admin_key is not None:
            if await tenant_store.find_key_by_token(session, admin_key) is None:
                await tenant_store.issue_key(
                    session,
                    tenant.id,
                    name="bootstrap admin (SHOPBRIDGE_ADMIN_KEY)",
                    scopes=BOOTSTRAP_SCOPES,
                    token=admin_key,
                )
        elif not await tenant_store.ApiKeyRepository(session, tenant.id).list(after=None, limit=1):
            # First start (or keys were never issued): make one, to be shown exactly once.
            issued = await tenant_store.issue_key(
                session, tenant.id, name="bootstrap admin", scopes=BOOTSTRAP_SCOPES
            )
            generated = issued.token
    return BootstrapResult(tenant_id=tenant.id, generated_admin_key=generated)
