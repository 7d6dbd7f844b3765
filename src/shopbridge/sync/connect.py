"""Build a shop's connector the same way everywhere (sync, stock pushes, shipments): through
the registry, with the shop's sealed credentials opened only here, and its calls recorded
in the sync log."""

from __future__ import annotations

from collections.abc import Callable

from shopbridge.connectors import Connector, ShopContext
from shopbridge.connectors.registry import connector_class
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.shops import open_credentials
from shopbridge.storage.tables import ShopRow
from shopbridge.sync.synclog import SYNC_LOG

ConnectorFactory = Callable[[str], type[Connector]]


def build_connector(
    box: SecretBox,
    shop: ShopRow,
    *,
    connectors: ConnectorFactory = connector_class,
    base_url: str | None = None,
) -> Connector:
    cls = connectors(shop.platform)
    context = ShopContext(
        shop_id=shop.id,
        platform_shop_id=shop.platform_shop_id,
        credentials=open_credentials(box, shop),
        settings=dict(shop.settings or {}),
        base_url=base_url or (shop.settings or {}).get("base_url"),
    )
    # Every call the connector makes lands in the sync log and the platform-call metrics.
    return cls(context, observer=SYNC_LOG.observer(shop.tenant_id, shop.id))
