"""Platform connectors: one folder per platform, all behind `Connector` (see base.py).

The sync engine and the API import only this package's framework modules; platform folders
are found through the `shopbridge.connectors` entry-point group (registry.py).
"""

from shopbridge.connectors.base import (
    Capability,
    Connector,
    ConnectorInfo,
    Listing,
    ListingPage,
    OrderPage,
    PullWindow,
    PushMessage,
    RateLimit,
    ShipmentLineRequest,
    ShipmentRequest,
    ShipmentResult,
    ShopContext,
    StockUpdate,
    StockUpdateResult,
    StreamSpec,
    UnmappedOrder,
)
from shopbridge.connectors.errors import (
    AuthExpired,
    ConnectorError,
    MappingError,
    NotFound,
    PushRejected,
    RateLimited,
    Rejected,
    Unavailable,
)

__all__ = [
    "AuthExpired",
    "Capability",
    "Connector",
    "ConnectorError",
    "ConnectorInfo",
    "Listing",
    "ListingPage",
    "MappingError",
    "NotFound",
    "OrderPage",
    "PullWindow",
    "PushMessage",
    "PushRejected",
    "RateLimit",
    "RateLimited",
    "Rejected",
    "ShipmentLineRequest",
    "ShipmentRequest",
    "ShipmentResult",
    "ShopContext",
    "StockUpdate",
    "StockUpdateResult",
    "StreamSpec",
    "Unavailable",
    "UnmappedOrder",
]
