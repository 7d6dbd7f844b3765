"""Shops of one tenant, with credentials sealed at rest.

Credentials are write-only: this module can seal and (for connectors) open them, but the
row never carries plaintext and nothing here returns it to the API layer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.logging import register_credentials
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.errors import Conflict, NotFound
from shopbridge.storage.tables import ShopRow

ACTIVE = "active"
PAUSED = "paused"
DISCONNECTED = "disconnected"


def credentials_owner(shop_id: str) -> str:
    return f"shop:{shop_id}:credentials"


def open_credentials(box: SecretBox, row: ShopRow) -> dict[str, Any]:
    """For connectors only; never for API responses."""
    if row.credentials_sealed is None:
        return {}
    data: dict[str, Any] = json.loads(
        box.open(row.credentials_sealed, owner=credentials_owner(row.id))
    )
    register_credentials(data)  # from now on, logs scrub these secrets wherever they appear
    return data


class ShopRepository:
    def __init__(self, session: AsyncSession, tenant_id: str, box: SecretBox) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.box = box

    def _seal(self, row: ShopRow, credentials: dict[str, Any] | None) -> None:
        if not credentials:
            row.credentials_sealed = None
            row.credentials_key_id = None
            return
        payload = json.dumps(credentials, sort_keys=True, ensure_ascii=False).encode()
        row.credentials_sealed, row.credentials_key_id = self.box.seal(
            payload, owner=credentials_owner(row.id)
        )

    def open_credentials(self, row: ShopRow) -> dict[str, Any]:
        return open_credentials(self.box, row)

    async def _find(self, platform: str, platform_shop_id: str) -> ShopRow | None:
        stmt = select(ShopRow).where(
            ShopRow.tenant_id == self.tenant_id,
            ShopRow.platform == platform,
            ShopRow.platform_shop_id == platform_shop_id,
        )
        return (await self.session.scalars(stmt)).first()

    async def connect(
        self,
        *,
        platform: str,
        platform_shop_id: str,
        display_name: str,
        credentials: dict[str, Any] | None,
        settings: dict[str, Any],
    ) -> tuple[ShopRow, bool]:
        """Connect a shop, or reconnect one that was disconnected (returns `created=False`).
        Connecting a shop that is already connected is a conflict, not a silent overwrite."""
        now = utcnow()
        existing = await self._find(platform, platform_shop_id)
        if existing is not None:
            if existing.status != DISCONNECTED:
                raise Conflict(
                    f"{platform} shop {platform_shop_id!r} is already connected as {existing.id}"
                )
            existing.status = ACTIVE
            existing.display_name = display_name
            existing.settings = settings
            existing.disconnected_at = None
            existing.updated_at = now
            self._seal(existing, credentials)
            await self.session.flush()
            return existing, False
        row = ShopRow(
            id=new_id("shop"),
            tenant_id=self.tenant_id,
            platform=platform,
            platform_shop_id=platform_shop_id,
            display_name=display_name,
            status=ACTIVE,
            settings=settings,
            created_at=now,
            updated_at=now,
        )
        self._seal(row, credentials)
        self.session.add(row)
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError as exc:
            raise Conflict(f"{platform} shop {platform_shop_id!r} is already connected") from exc
        return row, True

    async def get(self, shop_id: str) -> ShopRow:
        stmt = select(ShopRow).where(ShopRow.tenant_id == self.tenant_id, ShopRow.id == shop_id)
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"shop {shop_id} not found")
        return row

    async def list(
        self,
        *,
        platform: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Sequence[ShopRow]:
        stmt = select(ShopRow).where(ShopRow.tenant_id == self.tenant_id)
        if platform:
            stmt = stmt.where(ShopRow.platform == platform)
        if status:
            stmt = stmt.where(ShopRow.status == status)
        if after:
            stmt = stmt.where(ShopRow.id > after)
        stmt = stmt.order_by(ShopRow.id).limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def update(
        self,
        shop_id: str,
        *,
        display_name: str | None = None,
        settings: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        status: str | None = None,
    ) -> ShopRow:
        row = await self.get(shop_id)
        if row.status == DISCONNECTED:
            raise Conflict(f"shop {shop_id} is disconnected; connect it again to change it")
        if display_name is not None:
            row.display_name = display_name
        if settings is not None:
            row.settings = settings
        if credentials is not None:
            self._seal(row, credentials)
        if status is not None:
            row.status = status
        row.updated_at = utcnow()
        await self.session.flush()
        return row

    async def disconnect(self, shop_id: str) -> ShopRow:
        """Stop syncing and erase credentials; orders already downloaded stay readable."""
        row = await self.get(shop_id)
        if row.status != DISCONNECTED:
            now = utcnow()
            row.status = DISCONNECTED
            row.disconnected_at = now
            row.updated_at = now
            self._seal(row, None)
            await self.session.flush()
        return row
